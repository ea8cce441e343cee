"""scanner.bulk.bulk_insert against the real database: what bulk_create(ignore_conflicts=True) does, through COPY on
PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from gallery.models import Image
from scanner.bulk import Row, bulk_insert


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


@pytest.mark.django_db
def test_every_kind_of_column_is_written_as_bulk_create_writes_it(django_user_model):
    from datetime import UTC, datetime

    from gallery.models import StageResult
    from jobs.models import FileInstance, Job

    owner = django_user_model.objects.create_user("owner", password="x")
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
        fields = [f.attname for f in FileInstance._meta.concrete_fields if f.attname not in ("id", "job_id")]
        values = FileInstance.objects.filter(job=job).values_list(*fields).get()
        return tuple(bytes(v) if isinstance(v, memoryview) else v for v in values)

    bulk_insert(FileInstance, [instance(jobs[0])])
    FileInstance.objects.bulk_create([FileInstance(**instance(jobs[1]))])
    assert row(jobs[0]) == row(jobs[1])

    # Left out: `error` (a default), `created_at` (set on insert).
    result = {"image_id": picture.pk, "stage": "exif", "extractor_version": "3", "status": "done",
              "model_name": "pillow", "model_sha256": "", "params": {"list": [1, "two"], "none": None}}  # fmt: skip
    bulk_insert(StageResult, [result])
    stored = StageResult.objects.values("params", "created_at", "status", "error").get()
    assert stored["params"] == {"list": [1, "two"], "none": None}  # JSON, not a PostgreSQL array
    assert stored["created_at"] is not None
    assert (stored["status"], stored["error"]) == ("done", "")
