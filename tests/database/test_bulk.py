"""database.bulk.bulk_insert against the real database: what bulk_create(ignore_conflicts=True) does, through COPY on
PostgreSQL."""

from __future__ import annotations

import sys

import pytest
from django.db import connection, transaction

from content.models import Image
from database.bulk import Row, bulk_insert
from tests.jobs.conftest import REPO
from tests.support.processes import child_run


def image(n: int, *, mime: str = "image/jpeg") -> Row:
    digest = f"{n:064x}"
    return {"sha256": digest, "md5": digest[:32], "sha1": digest[:40], "size": n, "mime": mime, "format": "JPEG",
            "raw_width": 4, "raw_height": 3, "width": 4, "height": 3, "mode": "RGB"}  # fmt: skip


def staged_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bulk_gallery_image")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_rows_go_in_and_a_row_that_conflicts_is_skipped():
    bulk_insert(Image, [image(1), image(2)])
    bulk_insert(Image, [image(2, mime="image/png"), image(3)])
    rows = dict(Image.objects.values_list("size", "mime"))
    assert rows == {1: "image/jpeg", 2: "image/jpeg", 3: "image/jpeg"}  # the row already there is kept as it was
    assert Image.objects.filter(created_at__isnull=True).count() == 0  # auto_now_add filled in, as bulk_create does


@pytest.mark.django_db
def test_the_staging_table_is_empty_after_each_insert_in_one_transaction():
    with transaction.atomic():
        bulk_insert(Image, [image(1)])
        assert staged_rows() == 0
        bulk_insert(Image, [image(2)])
        assert staged_rows() == 0
    assert Image.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_first_insert_that_is_rolled_back_leaves_the_next_one_working():
    connection.close()  # a connection that has never made the staging table

    def failing_transaction() -> None:
        with transaction.atomic():
            bulk_insert(Image, [image(1)])
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        failing_transaction()
    bulk_insert(Image, [image(2)])  # the staging table went with the rollback: it is made again
    bulk_insert(Image, [image(3)])  # and is known to exist from then on
    assert sorted(Image.objects.values_list("size", flat=True)) == [2, 3]


def every_kind_of_column_is_written_as_bulk_create_writes_it(owner) -> None:
    """Compares bulk_insert with bulk_create on whichever database is configured (the SQLite test runs it in an
    embedded process)."""
    from datetime import UTC, datetime

    from content.models import StageResult
    from jobs.models import FileInstance, Job

    jobs = [Job.objects.create(name=name, owner=owner, source_path="/evidence") for name in ("copy", "django")]
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


@pytest.mark.django_db
def test_every_kind_of_column_is_written_as_bulk_create_writes_it(django_user_model):
    every_kind_of_column_is_written_as_bulk_create_writes_it(django_user_model.objects.create_user("owner"))


# Runs in the embedded configuration, on a new SQLite database.
_ON_SQLITE = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
assert connection.vendor == "sqlite"
from tests.database.test_bulk import every_kind_of_column_is_written_as_bulk_create_writes_it
every_kind_of_column_is_written_as_bulk_create_writes_it(get_user_model().objects.create_user("owner"))
"""


def test_every_kind_of_column_is_written_as_bulk_create_writes_it_on_sqlite(tmp_path):
    from tests.jobs.test_embedded import embedded_env

    env = {**embedded_env(tmp_path), "DJANGO_SETTINGS_MODULE": "scanner.settings.embedded"}  # as manage.py sets it
    done = child_run([sys.executable, "-c", _ON_SQLITE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
