"""Rows for bulk_insert (database.bulk), and the comparison of what it writes with what bulk_create writes, which
the bulk tests run on PostgreSQL and, in an embedded process, on SQLite."""

from __future__ import annotations

from django.db import connection

from content.models import Image
from database.bulk import Row, bulk_insert


def image(n: int, *, mime: str = "image/jpeg") -> Row:
    digest = f"{n:064x}"
    return {"sha256": digest, "md5": digest[:32], "sha1": digest[:40], "size": n, "mime": mime, "format": "JPEG",
            "raw_width": 4, "raw_height": 3, "width": 4, "height": 3, "mode": "RGB"}  # fmt: skip


def every_kind_of_column_is_written_as_bulk_create_writes_it(owner) -> None:
    """Compares bulk_insert with bulk_create on whichever database is configured (the SQLite test runs it in an
    embedded process)."""
    from datetime import UTC, datetime

    from cases.services import case_create
    from content.models import StageResult
    from jobs.models import FileInstance, Job

    jobs = [
        Job.objects.create(
            name=name, owner=owner, source_path="/evidence", case=case_create(reference=name, title=name, owner=owner)
        )
        for name in ("copy", "django")
    ]
    bulk_insert(Image, [image(1)])
    picture = Image.objects.get()
    when = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)

    def instance(job: Job) -> Row:
        return {"job_id": job.pk, "path": "a/\\xff.jpg", "path_bytes": b"a/\xff.jpg", "path_digest": "d" * 64,
                "kind": "file", "size": 2**40, "mtime": when, "ctime": None, "mode": 0o100644, "inode": 2**62,
                "mime": "image/jpeg", "status": "image", "error": "", "note": "line\nbreak\ttab",
                "image_id": picture.pk}  # fmt: skip

    def row(job: Job) -> tuple:
        """The row as the database driver returns it (SQLite: datetimes as the text stored)."""
        columns = [f.column for f in FileInstance._meta.concrete_fields if f.attname not in ("id", "job_id")]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(columns)} FROM jobs_fileinstance WHERE job_id = %s", [job.pk])  # noqa: S608
            (values,) = cursor.fetchall()
        return tuple(bytes(v) if isinstance(v, memoryview) else v for v in values)

    bulk_insert(FileInstance, [instance(jobs[0])])
    FileInstance.objects.bulk_create([FileInstance(**instance(jobs[1]))])
    assert row(jobs[0]) == row(jobs[1])
    assert FileInstance.objects.get(job=jobs[0]).mtime == when

    # Left out: `error` (a default), `created_at` (set on insert).
    result = {"image_id": picture.pk, "stage": "exif", "extractor_version": "3", "status": "done",
              "model_name": "pillow", "model_sha256": "", "params": {"list": [1, "two"], "none": None}}  # fmt: skip
    bulk_insert(StageResult, [result])
    bulk_insert(StageResult, [{**result, "status": "failed"}])  # the same key: skipped
    stored = StageResult.objects.values("params", "created_at", "status", "error").get()
    assert stored["params"] == {"list": [1, "two"], "none": None}  # JSON, not an array or a string
    assert stored["created_at"] is not None
    assert (stored["status"], stored["error"]) == ("done", "")
