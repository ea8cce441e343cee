"""Gallery pages: keyset pagination over every sort and filter returns each image once, the last partial page
included; filters select what they say."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import F
from django.urls import reverse

from extractors.base import ItemResult, Outcome, Provenance
from extractors.classify import ClassifyResult, Tag
from gallery.models import ExifData, Image, StageResult
from gallery.selectors import CursorError, GalleryFilters, gallery_page
from gallery.services import stage_results_save
from jobs.models import FileInstance, JobImage
from tests.web.conftest import store_ml_results

pytestmark = pytest.mark.integration


def walk(job, *, sort: str, filters: GalleryFilters | None = None, limit: int = 7):
    pages, cursor = [], None
    while True:
        page = gallery_page(job=job, sort=sort, filters=filters, cursor=cursor, limit=limit)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_every_sort_pages_through_each_image_once(scan, examiner):
    job = scan(examiner, extra=24)  # 34 distinct images, 35 image files (one duplicate)
    expected = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(expected) == 34
    for sort in ("path", "taken", "size"):
        pages = walk(job, sort=sort)
        ids = [item.image_id for items in pages for item in items]
        assert len(ids) == len(set(ids)) == 34, sort
        assert set(ids) == expected, sort
        assert [len(p) for p in pages] == [7, 7, 7, 7, 6], sort  # the last, partial page is there
    by_path = [item.path for items in walk(job, sort="path") for item in items]
    assert by_path == sorted(by_path)
    by_size = [item.size for items in walk(job, sort="size") for item in items]
    assert by_size == sorted(by_size)
    # Date taken: dated images by date, then the undated ones (the PNG screenshot has no EXIF).
    taken = {
        e.image_id: e.datetime_original
        for e in ExifData.objects.filter(image_id__in=expected).exclude(datetime_original="")
    }
    order = [item.image_id for items in walk(job, sort="taken") for item in items]
    dated = [i for i in order if i in taken]
    assert [taken[i] for i in dated] == sorted(taken[i] for i in dated)
    assert order[: len(dated)] == dated
    assert walk(job, sort="path", limit=34)[0].__len__() == 34  # exactly one full page, no empty page after


def test_a_duplicate_shows_once_at_its_first_path(scan, examiner):
    job = scan(examiner)
    copy = FileInstance.objects.get(job=job, path="copies/holiday.jpg")
    items = [i for items in walk(job, sort="path") for i in items if i.image_id == copy.image_id]
    assert [i.path for i in items] == ["camera-0/DCIM/IMG_1000.jpg"]
    dupes = [i.image_id for items in walk(job, sort="size", filters=GalleryFilters(duplicates=True)) for i in items]
    assert dupes == [copy.image_id]


def test_filters(scan, examiner):
    job = scan(examiner, extra=6)
    ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    exif = ExifData.objects.filter(image_id__in=ids)

    def found(**filters):
        return {i.image_id for items in walk(job, sort="path", filters=GalleryFilters(**filters)) for i in items}

    assert found(gps=True) == set(exif.filter(gps_lat__isnull=False).values_list("image_id", flat=True))
    assert found(gps=True)
    assert found(gps=True) != ids
    assert found(mime="image/png") == set(
        Image.objects.filter(pk__in=ids, mime="image/png").values_list("pk", flat=True)
    )
    assert found(camera="Nikon\tD750") == set(exif.filter(camera_model="D750").values_list("image_id", flat=True))
    assert len(found(camera="Nikon\tD750")) == 6
    may = found(taken_from=dt.date(2023, 5, 2), taken_to=dt.date(2023, 5, 3))
    assert may == set(exif.filter(datetime_original__startswith="2023-05-02").values_list("image_id", flat=True)) | set(
        exif.filter(datetime_original__startswith="2023-05-03").values_list("image_id", flat=True)
    )
    assert len(may) == 2
    assert found(errors=True) == set()
    for sort in ("size", "taken"):
        assert {i.image_id for items in walk(job, sort=sort, filters=GalleryFilters(gps=True)) for i in items} == found(
            gps=True
        )


def test_the_faces_tag_and_errors_filters_select_what_the_stages_found(scan, examiner, client_for):
    job = scan(examiner, extra=4)  # 14 distinct images
    ids = sorted(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    two, one, none, person, indoor, both, failed, stale = ids[:8]
    store_ml_results(
        job,
        faces={two: 2, one: 1, none: 0},
        tags={person: ["person"], indoor: ["indoor", "person outdoors"], both: ["indoor", "person"]},
    )
    versions = job.config["versions"]
    # A result of another version of the stage is not this job's: neither its tags nor its failures count.
    stage_results_save(
        provenance=Provenance(stage="classify", version=versions["classify"] + "-older"),
        results=[ItemResult(stale, Outcome.DONE, ClassifyResult(tags=(Tag("indoor", 0.9),), embedding=bytes(16)))],
    )
    stage_results_save(
        provenance=Provenance(stage="faces", version=versions["faces"] + "-older"),
        results=[ItemResult(stale, Outcome.FAILED, error="old decoder")],
    )
    stage_results_save(
        provenance=Provenance(stage="faces", version=versions["faces"]),
        results=[ItemResult(failed, Outcome.FAILED, error="truncated JPEG")],
    )

    def found(sort: str = "path", **filters):
        return {i.image_id for items in walk(job, sort=sort, filters=GalleryFilters(**filters), limit=3) for i in items}

    for sort in ("path", "size", "taken"):
        assert found(sort, faces=True) == {two, one}, sort
        assert found(sort, tag="indoor") == {indoor, both}, sort
        assert found(sort, tag="person") == {person, both}, sort  # a whole label, not a part of one
        assert found(sort, tag="car") == set(), sort
        assert found(sort, faces=True, tag="indoor") == set(), sort
        assert found(sort, errors=True) == {failed}, sort

    alice = client_for(examiner)
    for query, expected in [("faces=1", {two, one}), ("tag=indoor", {indoor, both}), ("errors=1", {failed})]:
        html = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?" + query).text
        assert set(map(int, re.findall(r'data-image="(\d+)"', html))) == expected, query


def test_the_filter_menus_list_the_jobs_types_and_cameras(scan, examiner, client_for):
    job = scan(examiner, extra=2)
    options = client_for(examiner).get(reverse("jobs:gallery_options", args=[job.pk])).json()
    assert options["mimes"] == ["image/jpeg", "image/png"]
    assert options["cameras"] == [
        ["Apple\tiPhone 12", "Apple iPhone 12"],
        ["Canon\tEOS 80D", "Canon EOS 80D"],
        ["Nikon\tD750", "Nikon D750"],
        ["SONY\tILCE-7M3", "SONY ILCE-7M3"],
    ]


def test_cursors_not_written_by_the_server_are_refused(scan, examiner, client_for):
    job = scan(examiner, extra=3)
    for sort, cursor in [("path", "bm90LWpzb24"), ("size", "WyJhIiwxXQ"), ("taken", "WzEsMl0"), ("path", "%%%")]:
        with pytest.raises(CursorError):
            gallery_page(job=job, sort=sort, cursor=cursor)
    alice = client_for(examiner)
    assert alice.get(reverse("jobs:gallery_more", args=[job.pk]) + "?cursor=WzEsMl0").status_code == 400


def test_the_gallery_over_http_ends_with_the_last_partial_page(scan, examiner, client_for, settings):
    job = scan(examiner, extra=5)  # 15 distinct images
    settings.GALLERY_PAGE_SIZE = 4
    alice = client_for(examiner)
    html = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?sort=size").text
    seen = re.findall(r'data-image="(\d+)"', html)
    while match := re.search(r'data-next="([^"]+)"', html):
        html = alice.get(match.group(1).replace("&amp;", "&")).text
        seen += re.findall(r'data-image="(\d+)"', html)
    assert "data-end" in html
    assert sorted(map(int, seen)) == sorted(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(seen) == 15


def test_images_without_exif_results_still_appear_in_date_order(scan, examiner):
    job = scan(examiner, extra=4)  # 14 distinct images
    ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    undated_row = ExifData.objects.filter(image_id__in=ids, datetime_original="").values_list("image_id", flat=True)
    assert len(undated_row) == 1  # the PNG screenshot: EXIF read, no date in it
    # The stage failed on one image: no EXIF row, a failed result, and the progress says so.
    failed = ExifData.objects.filter(image_id__in=ids).exclude(datetime_original="").first()
    StageResult.objects.filter(image_id=failed.image_id, stage="exif").update(status="failed", error="hostile IFD")
    failed.delete()
    job.stage_progress.filter(stage="exif").update(done=F("done") - 1, failed=F("failed") + 1)
    for limit in (1, 3, 13, 14, 80):
        order = [i.image_id for items in walk(job, sort="taken", limit=limit) for i in items]
        assert len(order) == len(set(order)) == 14, limit
        assert order[-2:] == [undated_row[0], failed.image_id], limit
    errors = {i.image_id for items in walk(job, sort="taken", filters=GalleryFilters(errors=True)) for i in items}
    assert errors == {failed.image_id}


def test_the_map_says_how_many_positions_there_are_when_it_draws_only_the_first(scan, examiner, client_for, settings):
    job = scan(examiner, extra=6)
    ids = JobImage.objects.filter(job=job).values_list("image_id", flat=True)
    located = sorted(
        ExifData.objects.filter(image_id__in=ids, gps_lat__isnull=False).values_list("image_id", flat=True)
    )
    assert len(located) > 3
    alice = client_for(examiner)
    url = reverse("jobs:map_points", args=[job.pk])
    for cap in (3, len(located), len(located) + 1):
        settings.MAP_MAX_POINTS = cap
        found = alice.get(url).json()
        assert [p[0] for p in found["points"]] == located[:cap], cap
        assert found["total"] == len(located), cap
