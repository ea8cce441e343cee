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
from jobs.models import FileInstance, Job
from tests.extractors.conftest import jpeg_bytes, png_bomb
from tests.jobs.conftest import REPO, assert_counters_add_up, build_hostile_tree
from tests.processes import child_run

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
    assert by_path["names/line\nbreak.jpg"]["status"] == "image"
    assert by_path["names/caf\\xe9 (latin-1).jpg"]["status"] == "image"  # shown with an escape, kept exactly
    assert by_path["broken/bomb.png"]["error"].startswith("decompression bomb: 30000x30000 exceeds the pixel limit")
    assert by_path["special/fifo"]["status"] == "skipped"
