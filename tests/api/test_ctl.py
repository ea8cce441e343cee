"""`manage.py ctl`, the operator's command line, against the real server over TLS."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from audit.models import AuditEvent
from jobs.lifecycle import job_start
from jobs.models import FileInstance, Job
from jobs.samples import exif_bytes, write_photo
from jobs.services import job_create
from tests.support.environment import REPO
from tests.support.jobs import finished, photos
from tests.support.processes import child_run
from tests.support.sources import sources_assigned

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def ctl(grpc_server, worker_env, tmp_path):
    ca = tmp_path / "server.crt"
    ca.write_bytes(grpc_server.ca)

    def run(token: str, *args: str) -> subprocess.CompletedProcess:
        env = {
            **worker_env,
            "GRPC_TARGET": grpc_server.target,
            "GRPC_TLS_CA": str(ca),
            "SCANNER_API_TOKEN": token,
            "SOURCES_ROOT": str(grpc_server.sources_root),
        }
        return child_run(
            [sys.executable, "manage.py", "ctl", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    return run


def test_ctl_lists_jobs_fetches_files_and_controls_workers(ctl, grpc_server, alice, operator, workers, tmp_path):
    photos(grpc_server.sources_root / "ctl-case", range(3))
    sources_assigned(alice.user, "ctl-case")
    created = ctl(alice.token, "create", "ctl-case", "--name", "From ctl", "--stages", "exif", "--start")
    assert created.returncode == 0, created.stderr
    job = Job.objects.get(name="From ctl")
    watched = ctl(alice.token, "watch", str(job.pk))
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[-1].startswith("completed  files 3  images 3  errors 0  exif 3/3")
    listed = ctl(alice.token, "jobs")
    assert f"{job.pk}  completed   From ctl  [ctl-case]" in listed.stdout
    again = ctl(alice.token, "rerun", str(job.pk))
    assert again.returncode == 0, again.stderr
    rerun = Job.objects.get(rerun_of=job)
    assert again.stdout.split()[0] == str(rerun.pk)
    assert "From ctl  [ctl-case]" in again.stdout
    assert ctl(alice.token, "watch", str(rerun.pk)).stdout.splitlines()[-1].startswith("completed  files 3")

    instance = FileInstance.objects.filter(job=job).first()
    out = tmp_path / "copy.jpg"
    fetched = ctl(alice.token, "fetch", str(instance.pk), "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == instance.sha256
    assert f"SHA-256 {instance.sha256} (matches the scan)" in fetched.stderr

    refused = ctl(alice.token, "workers")
    assert refused.returncode != 0
    assert "PERMISSION_DENIED" in refused.stderr
    shown = ctl(operator.token, "workers")
    assert shown.returncode == 0, shown.stderr
    assert "queues classify, exif, faces, jobs" in shown.stdout
    paused = ctl(operator.token, "pause", "faces")
    assert paused.returncode == 0, paused.stderr
    try:
        assert "faces (PAUSED)" in ctl(operator.token, "workers").stdout
    finally:
        assert ctl(operator.token, "resume", "faces").returncode == 0
    assert "(PAUSED)" not in ctl(operator.token, "workers").stdout


def test_ctl_without_a_valid_token_says_why(ctl, alice, evidence_dir):
    job = job_create(name="theirs", source_path=evidence_dir, stages=["exif"])
    job_start(job=job)
    finished(job)
    for token, expected in (("", "no API token"), ("isk_wrong", "UNAUTHENTICATED"), (alice.token, "NOT_FOUND")):
        result = ctl(token, "job", str(job.pk))
        assert result.returncode != 0
        assert expected in result.stderr


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fp:
        return {row["path"]: row for row in csv.DictReader(fp)}


def test_ctl_fetch_images_copies_every_image_checked_and_picks_up_where_it_stopped(
    ctl, grpc_server, alice, bob, workers, tmp_path
):
    source = grpc_server.sources_root / "fetch-case"
    photos(source, range(4))
    photos(source, range(1), folder="later")  # the first photo's content at a second path, later in path order
    (source / "notes.txt").write_text("not an image")
    job = job_create(name="exhibits", source_path=source, owner=alice.user, stages=["exif"])
    job_start(job=job)
    assert finished(job).status == Job.Status.COMPLETED
    images = {i.path: i for i in FileInstance.objects.filter(job=job, status=FileInstance.Status.IMAGE)}
    assert len(images) == 5

    out = tmp_path / "exhibits"
    fetched = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out), "--parallel", "3")
    assert fetched.returncode == 0, fetched.stderr
    assert f"job {job.pk}: 4 images in {out}: 4 fetched, 0 already there, 0 failed" in fetched.stderr
    distinct = {i.sha256 for i in images.values()}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [*(f"{sha}.jpg" for sha in distinct), "fetch-images.json", "manifest.csv"]
    )
    for copy in out.glob("*.jpg"):
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == copy.stem
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # evidence copies are their examiner's only
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    run = json.loads((out / "fetch-images.json").read_text())
    assert (run["job_id"], run["filter"], run["images"], run["fetched"], run["error"]) == (job.pk, {}, 4, 4, 0)
    rows = _manifest(out)
    assert sorted(rows) == ["img_00000.jpg", "img_00001.jpg", "img_00002.jpg", "img_00003.jpg"]
    first = rows["img_00000.jpg"]
    assert (first["status"], first["instances"], first["file"]) == ("fetched", "2", f"{first['sha256']}.jpg")
    assert first["file_id"] == str(images["img_00000.jpg"].pk)
    streamed = AuditEvent.objects.filter(action="file.stream", job_id=job.pk, user_id=alice.user.pk)
    assert streamed.filter(detail__startswith="sent ").count() == 4

    # A damaged copy is replaced, a missing one fetched again, a link in a copy's place replaced (not followed, even
    # to the right bytes), good ones kept (checked, not fetched); a temporary file left by a killed run is removed.
    linked, damaged, missing = (out / rows[p]["file"] for p in ("img_00000.jpg", "img_00001.jpg", "img_00002.jpg"))
    decoy = tmp_path / "decoy.jpg"
    decoy.write_bytes(linked.read_bytes())
    linked.unlink()
    linked.symlink_to(decoy)
    damaged.write_bytes(b"not the evidence")
    missing.unlink()
    (out / f".{missing.name}.abc123.part").write_bytes(b"half a copy")
    again = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert "4 images in" in again.stderr
    assert "3 fetched, 1 already there, 0 failed" in again.stderr
    assert {p: r["status"] for p, r in _manifest(out).items()} == {
        "img_00000.jpg": "fetched",
        "img_00001.jpg": "fetched",
        "img_00002.jpg": "fetched",
        "img_00003.jpg": "present",
    }
    for copy in (linked, damaged, missing):
        assert not copy.is_symlink()
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == copy.stem
    assert decoy.read_bytes() == linked.read_bytes()
    assert not list(out.glob(".*.part"))
    assert streamed.filter(detail__startswith="sent ").count() == 7

    # Evidence changed since the scan (same size): the server ends its stream with DATA_LOSS once it has sent every
    # byte; that image fails with the server's reason and leaves nothing, the rest go on.
    changed = source / "img_00003.jpg"
    changed.write_bytes(changed.read_bytes()[:-2] + b"\0\0")
    (out / rows["img_00003.jpg"]["file"]).unlink()
    failed = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out))
    assert failed.returncode != 0
    assert "1 images could not be copied (the first: img_00003.jpg: DATA_LOSS" in failed.stderr
    row = _manifest(out)["img_00003.jpg"]
    assert (row["status"], row["file"]) == ("error", "")
    assert "changed since the scan" in row["error"]
    assert not (out / rows["img_00003.jpg"]["file"]).exists()
    assert not list(out.glob(".*.part"))

    # The gallery's filters choose the images (img_00000 and img_00003 are the camera "Test" "M0").
    listed = ctl(alice.token, "images", str(job.pk), "--camera", "Test", "M0")
    assert [line.split()[-1] for line in listed.stdout.splitlines()] == ["img_00000.jpg", "img_00003.jpg"]
    chosen = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(tmp_path / "m0"), "--camera", "Test", "M0")
    assert chosen.returncode != 0  # img_00003.jpg changed since the scan
    assert f"job {job.pk} (camera_make Test, camera_model M0): 2 images in" in chosen.stderr
    assert sorted(_manifest(tmp_path / "m0")) == ["img_00000.jpg", "img_00003.jpg"]
    bad_date = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(tmp_path / "x"), "--taken-from", "2024-13-01")
    assert "INVALID_ARGUMENT: taken_from and taken_to are dates" in bad_date.stderr

    # A folder another run is writing to, or that holds another filter's images: refused, nothing changed there.
    with open(out / ".fetch-images.lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out))
    assert busy.returncode != 0
    assert f"another fetch-images is writing to {out}" in busy.stderr
    mixed = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out), "--gps")
    assert mixed.returncode != 0
    assert f"{out} holds the images of job {job.pk} with filter none: choose another folder" in mixed.stderr
    assert _manifest(out)["img_00003.jpg"]["status"] == "error"

    blocked = tmp_path / "blocked"
    (blocked / ".fetch-images.lock").mkdir(parents=True)  # the folder cannot be used: a clear error, not a trace
    unusable = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(blocked))
    assert unusable.returncode != 0
    assert f"cannot write to {blocked}: [Errno 21] Is a directory" in unusable.stderr

    # Someone else's job, and a folder inside the evidence: refused, nothing written.
    for token, folder, expected in (
        (bob.token, tmp_path / "bobs", "NOT_FOUND"),
        (alice.token, source / "copies", "is inside the evidence"),
    ):
        refused = ctl(token, "fetch-images", str(job.pk), "-o", str(folder))
        assert refused.returncode != 0
        assert expected in refused.stderr
        assert not folder.exists()
    inside = source / "exhibit.jpg"
    single = ctl(alice.token, "fetch", str(images["img_00001.jpg"].pk), "-o", str(inside))
    assert single.returncode != 0
    assert "is inside the evidence" in single.stderr
    assert not inside.exists()


def test_ctl_says_unavailable_for_a_stage_that_could_not_run(ctl, grpc_server, alice):
    photos(grpc_server.sources_root / "no-faces", range(2))
    job = job_create(
        name="No faces", source_path=grpc_server.sources_root / "no-faces", owner=alice.user, stages=["exif", "faces"]
    )
    job.stage_progress.filter(stage="exif").update(total=2, done=2)
    job.stage_progress.filter(stage="faces").update(total=2, unavailable=2, message="faces: model pack is missing")
    shown = ctl(alice.token, "job", str(job.pk))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].endswith("exif 2/2  faces unavailable")
    assert "  faces: faces: model pack is missing" in shown.stdout.splitlines()


def test_ctl_shows_hostile_names_and_exif_escaped_and_its_manifest_runs_no_formula(
    ctl, grpc_server, alice, workers, tmp_path
):
    rlo = "\u202e"
    source = grpc_server.sources_root / "hostile-names"
    hostile = exif_bytes(make="Test", model=f"EOS{rlo}08D")
    for seed, name in enumerate((b"=1+2.jpg", b"bad\xff.jpg", b"bad\\xff.jpg")):
        write_photo(source / os.fsdecode(name), width=48, height=32, seed=seed, exif=hostile)
    job = job_create(name="hostile", source_path=source, owner=alice.user, stages=["exif"])
    job_start(job=job)
    assert finished(job).status == Job.Status.COMPLETED

    listed = ctl(alice.token, "images", str(job.pk))
    assert listed.returncode == 0, listed.stderr
    assert rlo not in listed.stdout  # the camera's bidi override is shown, not obeyed
    lines = listed.stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["=1+2.jpg", "bad\\\\xff.jpg", "bad\\xff.jpg"]
    assert all("Test EOS\\u202e08D" in line for line in lines)

    out = tmp_path / "hostile"
    fetched = ctl(alice.token, "fetch-images", str(job.pk), "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert sorted(_manifest(out)) == ["'=1+2.jpg", "bad\\\\xff.jpg", "bad\\xff.jpg"]
