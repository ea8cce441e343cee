"""The move of the content models from the gallery app to the content app changes no table: a database filled by the
code before the move reads back, row for row and field for field, through the models after it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps as current_apps
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from content.models import Classification, ExifData, Face, Image, StageResult

# The last migrations before the move; the content app did not exist.
BEFORE = [("gallery", "0004_face_embedding_any_length"), ("jobs", "0009_paths_shown_one_to_one")]
# Model as the old code named it -> the model that reads its table now.
MOVED = {
    ("gallery", "Image"): Image,
    ("gallery", "StageResult"): StageResult,
    ("gallery", "ExifData"): ExifData,
    ("gallery", "Face"): Face,
    ("gallery", "Classification"): Classification,
}
# The models that refer to Image: their foreign keys now lead to content.Image.
REFERRING = [("jobs", "Job"), ("jobs", "ScanBatch"), ("jobs", "FileInstance"), ("jobs", "JobImage"),
             ("jobs", "StageClaim")]  # fmt: skip
LATER_FIELDS = {"case_id", "exhibit"}
WHEN = datetime(2026, 11, 30, 5, 6, 7, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def _rows(model: Any) -> list[dict[str, Any]]:
    """Every row of the model's table, every field as stored (binary as bytes)."""
    return [
        {name: bytes(value) if isinstance(value, memoryview) else value for name, value in row.items()}
        for row in model.objects.order_by("pk").values()
    ]


@pytest.fixture
def before_the_move(transactional_db) -> Iterator[Apps]:
    """The database migrated back to before the move, and the models of that time; migrated forward to the latest
    again afterwards, whatever the test did."""
    content_type = ContentType.objects.get_for_model(Image).pk
    executor = _migrate([*BEFORE, ("content", None)])
    try:
        yield executor.loader.project_state(BEFORE).apps
    finally:
        executor = MigrationExecutor(connection)
        _migrate(executor.loader.graph.leaf_nodes())
        ContentType.objects.clear_cache()
        assert ContentType.objects.get_for_model(Image).pk == content_type


def _fill(old: Apps) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows as the old code wrote them (every field given a value that is not its default); returns them as read."""
    owner = old.get_model(settings.AUTH_USER_MODEL).objects.create(username="examiner", email="examiner@lab.example")
    image = old.get_model("gallery", "Image").objects.create(
        sha256="a" * 64, md5="b" * 32, sha1="c" * 40, size=123_456, mime="image/jpeg", format="JPEG",
        raw_width=4000, raw_height=3000, width=3000, height=4000, orientation=6, mode="RGB", bit_depth=8,
        dpi_x=300.0, dpi_y=301.0, frames=2, icc_profile=True,
    )  # fmt: skip
    results = old.get_model("gallery", "StageResult").objects
    exif_result, faces_result, classify_result = (
        results.create(image=image, stage=stage, extractor_version="3", status="done", error="",
                       model_name=f"{stage} model", model_sha256="d" * 64, params={"threshold": 0.5, "stage": stage})
        for stage in ("exif", "faces", "classify")
    )  # fmt: skip
    results.create(image=image, stage="hashes", extractor_version="1", status="failed", error="unreadable")
    old.get_model("gallery", "ExifData").objects.create(
        result=exif_result, image=image, tags={"0th": {"Make": "Canon"}, "GPS": {"GPSLatitude": [[52, 1]]}},
        camera_make="Canon", camera_model="EOS 5D", lens_model="EF 50mm", software="GIMP",
        datetime_original="2026-11-29T10:11:12+01:00", orientation=6, gps_lat=52.5, gps_lon=13.4, gps_alt=34.5,
        gps_datetime="2026-11-29T09:11:12Z", warnings=["MakerNote ignored"],
    )  # fmt: skip
    for index in range(2):
        old.get_model("gallery", "Face").objects.create(
            result=faces_result, image=image, index=index, x=10.5 + index, y=20.5, width=30.0, height=40.0,
            score=0.97, landmarks=[[1.0, 2.0]] * 5, embedding=bytes(range(index, index + 16)), crop=b"\xff\xd8crop",
        )  # fmt: skip
    old.get_model("gallery", "Classification").objects.create(
        result=classify_result, image=image, tags=[{"label": "car", "score": 0.8}], embedding=b"\x00\x01\x02\x03",
        embedding_dim=1, caption="a red car",
    )  # fmt: skip
    job = old.get_model("jobs", "Job").objects.create(
        name="before the move", owner=owner, source_path="/evidence", status="completed", config={"versions": {}}
    )
    batch = old.get_model("jobs", "ScanBatch").objects.create(job=job, seq=1, work={"files": [1]}, finished=True)
    old.get_model("jobs", "FileInstance").objects.create(
        job=job, image=image, path="photos/IMG_0001.jpg", path_digest="e" * 64, kind="file", size=123_456,
        mtime=WHEN, inode=42, mime="image/jpeg", status="image", sha256="a" * 64,
    )  # fmt: skip
    old.get_model("jobs", "JobImage").objects.create(job=job, image=image)
    old.get_model("jobs", "StageClaim").objects.create(image=image, stage="faces", extractor_version="3", batch=batch)
    return {key: _rows(old.get_model(*key)) for key in [*MOVED, *REFERRING]}


def test_rows_written_before_the_move_read_back_through_the_moved_models(before_the_move):
    written = _fill(before_the_move)
    assert all(written.values())  # every table holds rows

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    for (app, name), model in MOVED.items():
        assert _rows(model) == written[app, name], name
    for app, name in REFERRING:
        # Less the fields later migrations added (a job's case: tests/cases/test_migrations.py).
        rows = [
            {k: v for k, v in row.items() if k not in LATER_FIELDS} for row in _rows(current_apps.get_model(app, name))
        ]
        assert rows == written[app, name], name
    image = Image.objects.get()
    assert image.job_images.get().job.name == "before the move"
    assert image.instances.get().path == "photos/IMG_0001.jpg"
    assert bytes(image.faces.get(index=1).embedding) == bytes(range(1, 17))
    assert image.exif.get().result.stage == "exif"
    assert image.classifications.get().result.image == image
    assert sorted(image.stage_results.values_list("stage", flat=True)) == ["classify", "exif", "faces", "hashes"]
