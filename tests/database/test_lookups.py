"""`__any` (database.lookups) against the real database: the rows of `__in`, with the values as one array parameter
on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.models import Image, StageResult
from tests.support.bulk import image


@pytest.fixture
def images() -> list[Image]:
    Image.objects.bulk_create([Image(**image(n)) for n in range(1, 6)])
    return list(Image.objects.order_by("size"))


@pytest.mark.django_db
def test_any_finds_the_rows_in_finds_with_one_parameter(images):
    wanted = [images[0].sha256, images[3].sha256, images[3].sha256, "not a hash"]
    with CaptureQueriesContext(connection) as queries:
        found = sorted(Image.objects.filter(sha256__any=wanted).values_list("size", flat=True))
    assert found == sorted(Image.objects.filter(sha256__in=wanted).values_list("size", flat=True)) == [1, 4]
    (sql,) = (q["sql"] for q in queries.captured_queries)
    assert '"sha256" = ANY(' in sql
    assert " IN (" not in sql


@pytest.mark.django_db
def test_any_on_a_foreign_key_ignores_none_and_an_empty_list_matches_nothing(images):
    StageResult.objects.bulk_create(
        StageResult(image=i, stage="exif", extractor_version="3", status="done") for i in images[:3]
    )
    ids = [images[1].pk, None, images[4].pk]
    assert list(StageResult.objects.filter(image_id__any=ids).values_list("image_id", flat=True)) == [images[1].pk]
    assert not StageResult.objects.filter(image_id__any=[]).exists()
    assert not StageResult.objects.filter(image_id__any=[None]).exists()


@pytest.mark.django_db
def test_any_takes_a_subquery_as_in_does(images):
    StageResult.objects.create(image=images[2], stage="exif", extractor_version="3", status="done")
    done = StageResult.objects.values("image_id")
    assert list(Image.objects.filter(pk__any=done).values_list("size", flat=True)) == [3]
