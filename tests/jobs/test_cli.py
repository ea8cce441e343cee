"""The command-line contract, run as an investigator runs it (`python manage.py ...` in a subprocess, against the
test database and real workers): exit codes, one-line refusals, and exports that carry every field for every
file instance."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from audit.models import AuditEvent
from jobs.models import FileInstance, Job, StageProgress
from jobs.progress.terminal import ProgressView
from jobs.samples import exif_bytes, write_photo
from tests.support.environment import REPO
from tests.support.evidence_trees import assert_counters_add_up, build_hostile_tree
from tests.support.images import jpeg_bytes, png_bomb
from tests.support.processes import child_run

pytestmark = pytest.mark.integration

CONTRACT = [
    "path", "status", "error", "size", "mtime", "md5", "sha1", "sha256", "mime", "format", "width", "height",
    "orientation", "gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original",
]  # fmt: skip


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return child_run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_scan_exits_0_when_every_file_is_an_error(transactional_db, workers, worker_env, evidence_folder):
    photo = jpeg_bytes(200, 150)
    (evidence_folder / "cut.jpg").write_bytes(photo[: len(photo) // 2])
    (evidence_folder / "zero.jpg").write_bytes(b"")
    (evidence_folder / "bomb.png").write_bytes(png_bomb())
    (evidence_folder / "loop").symlink_to("loop")
    (evidence_folder / "gone.jpg").symlink_to("nowhere.jpg")
    done = manage(worker_env, "scan", str(evidence_folder), "--name", "all errors")
    assert done.returncode == 0, done.stderr
    job = Job.objects.get(name="all errors")
    assert (job.status, job.files_seen, job.errors, job.images) == (Job.Status.COMPLETED, 5, 5, 0)
    assert_counters_add_up(job)
    assert f"job {job.pk}: completed" in done.stdout
    assert "decompression bomb: 30000x30000 exceeds the pixel limit" in done.stdout  # the summary lists errors


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_scan_refuses_a_path_that_is_not_a_folder_in_one_line(transactional_db, worker_env, evidence_folder, what):
    path = evidence_folder / "nothing-here"
    if what == "a file":
        path.write_bytes(b"a file, not a folder")
    done = manage(worker_env, "scan", str(path))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(path) in lines[0]
    assert not Job.objects.exists()


def test_export_of_an_unknown_job_fails_in_one_line(transactional_db, worker_env):
    done = manage(worker_env, "export", "999999", "--format", "jsonl")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["CommandError: no such job: 999999"]


def _as_csv(value) -> str:
    return "" if value is None else str(value)


def test_export_carries_every_field_for_every_file_instance(transactional_db, workers, worker_env, evidence_folder,
                                                            tmp_path):  # fmt: skip
    build_hostile_tree(evidence_folder)
    assert manage(worker_env, "scan", str(evidence_folder), "--name", "export").returncode == 0
    job = Job.objects.get(name="export")
    assert job.status == Job.Status.COMPLETED
    assert_counters_add_up(job)

    exported = {}
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"job.{fmt}"
        done = manage(worker_env, "export", str(job.pk), "--format", fmt, "-o", str(out))
        assert done.returncode == 0, done.stderr
        exported[fmt] = out.read_text(encoding="utf-8")
    to_stdout = manage(worker_env, "export", str(job.pk), "--format", "jsonl")
    assert to_stdout.stdout == exported["jsonl"]
    # The audit log has the scan's job and every export as done at the command line (the scan's start runs on a
    # thread of its own, which acts for the command all the same).
    logged = AuditEvent.objects.filter(job_id=job.pk).order_by("id")
    assert [(e.via, e.action) for e in logged] == [("cli", "job.create"), ("cli", "job.start")] + [
        ("system", "job.complete")  # recorded by the worker that finished the job
    ] + [("cli", "job.export")] * 3
    formats = [(e.data["format"], e.data["records"]) for e in logged[3:]]
    assert formats == [(fmt, job.files_seen) for fmt in ("jsonl", "csv", "jsonl")]

    records = [json.loads(line) for line in exported["jsonl"].splitlines()]
    rows = list(csv.DictReader(io.StringIO(exported["csv"], newline="")))
    instances = {row.path: row for row in FileInstance.objects.filter(job=job)}
    assert len(records) == len(rows) == len(instances) == job.files_seen
    assert {r["path"] for r in records} == set(instances)
    for record, row in zip(records, rows, strict=True):
        assert set(CONTRACT) <= set(record), set(CONTRACT) - set(record)
        assert set(CONTRACT) <= set(row)
        assert {key: _as_csv(value) for key, value in record.items()} == row

    for record in records:
        instance = instances[record["path"]]
        assert (record["status"], record["error"], record["size"]) == (instance.status, instance.error, instance.size)
        if instance.status != "image":
            continue
        path = os.path.join(os.fsencode(evidence_folder), instance.raw_path)
        with open(path, "rb") as fp:
            data = fp.read()
        assert (record["md5"], record["sha1"], record["sha256"], record["size"]) == (
            hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest(),
            len(data),
        )  # fmt: skip
        mtime = datetime.fromtimestamp(os.stat(path).st_mtime_ns / 1e9, tz=UTC)
        assert abs((datetime.fromisoformat(record["mtime"]) - mtime).total_seconds()) < 1e-3

    by_path = {r["path"]: r for r in records}
    canon = by_path["photos/IMG_0001.jpg"]
    assert (canon["camera_make"], canon["camera_model"], canon["datetime_original"]) == (
        "Canon", "EOS 80D", "2023-05-04T10:30:00+01:00",
    )  # fmt: skip
    assert (canon["gps_lat"], canon["gps_lon"]) == (pytest.approx(51.5007, abs=1e-6), pytest.approx(-0.1246, abs=1e-6))
    assert (canon["format"], canon["mime"], canon["width"], canon["height"]) == ("JPEG", "image/jpeg", 640, 480)
    turned = by_path["photos/IMG_0002.jpg"]
    assert (turned["width"], turned["height"], turned["orientation"]) == (480, 640, 6)
    assert by_path["names/line\\u000abreak.jpg"]["status"] == "image"  # a control character shown as an escape
    assert by_path["names/caf\\xe9 (latin-1).jpg"]["status"] == "image"  # shown with an escape, kept exactly
    assert by_path["broken/bomb.png"]["error"].startswith("decompression bomb: 30000x30000 exceeds the pixel limit")
    assert by_path["special/fifo"]["status"] == "skipped"


def test_export_notes_an_extension_that_names_another_type_either_way_and_carries_file_times(
    transactional_db, workers, worker_env, evidence_folder, tmp_path
):
    (evidence_folder / "invoice_scan.txt").write_bytes(jpeg_bytes(seed=5))
    (evidence_folder / "photo.jpg").write_bytes(b"Exhibit notes: nothing here is an image.\n")
    (evidence_folder / "real.jpg").write_bytes(jpeg_bytes(seed=6))
    assert manage(worker_env, "scan", str(evidence_folder), "--name", "disguises").returncode == 0
    job = Job.objects.get(name="disguises")
    out = tmp_path / "job.jsonl"
    assert manage(worker_env, "export", str(job.pk), "-o", str(out)).returncode == 0
    records = {r["path"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {path: (r["status"], r["note"]) for path, r in records.items()} == {
        "invoice_scan.txt": ("image", "the .txt extension does not match the content (image/jpeg)"),
        "photo.jpg": ("skipped", "the .jpg extension does not match the content (text/plain)"),
        "real.jpg": ("image", ""),
    }
    for path, record in records.items():
        ctime = datetime.fromtimestamp(os.lstat(evidence_folder / path).st_ctime_ns / 1e9, tz=UTC)
        assert datetime.fromisoformat(record["ctime"]) == ctime
        born = FileInstance.objects.get(job=job, path=path).btime
        assert born is not None  # this file system records birth times (tests/evidence/test_probe.py)
        assert record["btime"] == born.isoformat()


def test_progress_lines_say_unavailable_for_a_stage_that_could_not_run(capsys):
    stage = {"total": 20, "done": 0, "failed": 0, "skipped": 0, "reused": 0, "message": "no model"}
    rows = [
        StageProgress(stage="exif", **{**stage, "done": 20}),
        StageProgress(stage="faces", **stage, unavailable=20),
        StageProgress(stage="classify", **{**stage, "done": 15}, unavailable=5),
    ]
    snapshot = {
        "status": "completed", "files_seen": 20, "images": 20, "skipped": 0, "errors": 0, "current_path": "",
        "discovery_finished": True, "stages": [{"stage": p.stage, "summary": p.summary} for p in rows],
    }  # fmt: skip
    out = io.StringIO()
    ProgressView(out, tty=False, job_id=1, source="/evidence").update(snapshot)
    assert out.getvalue().endswith("exif 20/20  faces unavailable  classify 20/20, 5 unavailable")


def test_exports_keep_formulas_dead_and_show_hostile_names_one_to_one(transactional_db, workers, worker_env,
                                                                       evidence_folder):  # fmt: skip
    rlo = "\u202e"
    hostile = exif_bytes(make="=cmd|' /C calc'!A0", model=f"EOS{rlo}08D")
    for name in (b"=1+2.jpg", b"bad\xff.jpg", b"bad\\xff.jpg", f"invoice{rlo}gpj.exe.jpg".encode()):
        write_photo(evidence_folder / os.fsdecode(name), seed=len(name), exif=hostile)
    done = manage(worker_env, "scan", str(evidence_folder), "--name", "=HYPERLINK(1)")
    assert done.returncode == 0, done.stderr
    job = Job.objects.get(name="=HYPERLINK(1)")
    assert job.images == 4
    # The byte \xff and the text \xff are two names, shown as two; a bidi override is shown, not obeyed.
    shown = {"=1+2.jpg", "bad\\xff.jpg", "bad\\\\xff.jpg", "invoice\\u202egpj.exe.jpg"}
    assert {f.path for f in FileInstance.objects.filter(job=job)} == shown

    # JSON lines hold the values exactly, a bidi control written as its escape: nothing in them turns a terminal's
    # text around.
    lines = manage(worker_env, "export", str(job.pk), "--format", "jsonl").stdout
    assert rlo not in lines
    assert "\\u202e" in lines
    records = [json.loads(line) for line in lines.splitlines()]
    assert {r["path"] for r in records} == shown
    assert {(r["camera_make"], r["camera_model"]) for r in records} == {("=cmd|' /C calc'!A0", f"EOS{rlo}08D")}

    def csv_rows(*args: str) -> list[dict[str, str]]:
        done = manage(worker_env, *args)
        assert done.returncode == 0, done.stderr
        return list(csv.DictReader(io.StringIO(done.stdout, newline="")))

    # CSV is for spreadsheets: no cell starts a formula, unless --raw asks for the values exactly.
    exported = csv_rows("export", str(job.pk), "--format", "csv")
    assert {r["path"] for r in exported} == {"'=1+2.jpg"} | (shown - {"=1+2.jpg"})
    assert {r["camera_make"] for r in exported} == {"'=cmd|' /C calc'!A0"}
    raw = csv_rows("export", str(job.pk), "--format", "csv", "--raw")
    assert {r["path"] for r in raw} == shown
    assert {r["camera_make"] for r in raw} == {"=cmd|' /C calc'!A0"}

    logged = csv_rows("audit", "--job", str(job.pk), "--format", "csv")
    assert "'=HYPERLINK(1)" in {r["target"] for r in logged}
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in logged for cell in row.values())
    assert "=HYPERLINK(1)" in {r["target"] for r in csv_rows("audit", "--job", str(job.pk), "--format", "csv", "--raw")}
