"""Gallery pages: keyset pagination over every sort and filter returns each image once, the last partial page
included; filters select what they say."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import F
from django.urls import reverse

from content.models import ExifData, Face, Image, StageResult
from content.services import stage_results_save
from extractors.base import ItemResult, Outcome, Provenance
from extractors.classify import ClassifyResult, Tag
from gallery.cursors import CursorError
from gallery.filters import GalleryFilters
from gallery.selectors import gallery_page
from jobs.models import FileInstance, JobImage
from jobs.samples import write_photo
from tests.support.cases import make_case, store_ml_results

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
    versions = job.run_config.versions
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


FACES_MISSING = "faces: model pack buffalo_l is not installed: python manage.py models install /path/to/buffalo_l.zip"


def _faces_unavailable(job) -> None:
    """The state the pipeline records when the faces model is not installed: every image counted unavailable, with
    the reason and the fix."""
    job.stage_progress.filter(stage="faces").update(
        done=0, failed=0, skipped=0, reused=0, unavailable=F("total"), message=FACES_MISSING
    )
    Face.objects.filter(image__job_images__job=job).delete()
    StageResult.objects.filter(image__job_images__job=job, stage="faces").delete()


def test_a_stage_that_did_not_run_reads_unavailable_never_nothing_found(scan, examiner, client_for):
    job = scan(examiner)
    _faces_unavailable(job)
    alice = client_for(examiner)

    listed = alice.get(reverse("jobs:list")).text
    chip = re.search(r'<span class="chip[^"]*" data-stage="faces" title="([^"]*)">([^<]*)</span>', listed)
    assert chip[2] == "faces unavailable"
    assert "is not installed: python manage.py models install /path/to/buffalo_l.zip" in chip[1]
    assert "exif 10/10" in listed
    assert re.search(r'<td class="small nowrap">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00 \(UTC\)</td>', listed)

    detail = alice.get(reverse("jobs:detail", args=[job.pk])).text
    summary = re.sub(r"<[^>]+>", "", re.search(r'<li data-stage="faces">(.*?)</li>', detail)[1])
    assert summary == (
        "faces: 0 done, 0 failed, 0 skipped, 10 unavailable of 10 — the faces stage was unavailable for 10 of 10 "
        "images: " + FACES_MISSING
    )

    gallery = alice.get(reverse("jobs:gallery", args=[job.pk])).text
    faces_control = re.search(r'name="faces".*?</label>', gallery, re.S)[0]
    assert 'data-testid="unavailable"' in faces_control
    assert "the faces stage was unavailable for 10 of 10 images" in faces_control
    filtered = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?faces=1").text
    assert 'data-image="' not in filtered
    empty = re.search(r'data-testid="sentinel" data-empty="([^"]*)"', filtered)[1]
    assert empty.startswith("No image analysed matches: the faces stage was unavailable for 10 of 10 images")
    assert "python manage.py models install" in empty
    assert 'data-testid="unanswered"' in filtered
    assert 'data-testid="unanswered"' not in alice.get(reverse("jobs:gallery", args=[job.pk]) + "?gps=1").text

    image_id = JobImage.objects.filter(job=job).values_list("image_id", flat=True).first()
    panel = alice.get(reverse("jobs:image", args=[job.pk, image_id])).text
    pane = re.search(r'data-testid="faces-unavailable">([^<]*)<', panel)[1]
    assert pane.startswith("The faces stage has not analysed this image: the faces stage was unavailable")


def test_the_gallery_header_counts_the_images_the_filters_leave(scan, examiner, client_for):
    job = scan(examiner)
    located = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False).count()
    assert 0 < located < job.distinct_images == 10
    alice = client_for(examiner)
    html = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?gps=1").text
    assert re.search(r'data-testid="count">([^<]*)<', html)[1] == f"{located} of 10 distinct images"
    html = alice.get(reverse("jobs:gallery", args=[job.pk])).text
    assert re.search(r'data-testid="count">([^<]*)<', html)[1] == "10 distinct images · 11 image files"


def test_an_image_kept_under_another_types_extension_is_flagged_and_filtered(scan, examiner, client_for, sources_root):
    folder = sources_root / "disguised"
    make_case(folder)
    write_photo(folder / "invoice_scan.txt", seed=4242)
    job = scan(examiner, name="disguised")
    disguised = FileInstance.objects.get(job=job, path="invoice_scan.txt")
    assert (disguised.status, disguised.extension_mismatch) == ("image", True)
    assert FileInstance.objects.filter(job=job, extension_mismatch=True).count() == 1  # notes.txt is text
    found = {
        i.image_id for items in walk(job, sort="path", filters=GalleryFilters(extension_mismatch=True)) for i in items
    }
    assert found == {disguised.image_id}

    alice = client_for(examiner)
    html = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?mismatch=1").text
    assert set(map(int, re.findall(r'data-image="(\d+)"', html))) == {disguised.image_id}
    panel = alice.get(reverse("jobs:image", args=[job.pk, disguised.image_id])).text
    # The note holds the suspect's extension: isolated, as every suspect string on a page is.
    flag = re.search(r'data-testid="extension-mismatch"><bdi>([^<]*)</bdi><', panel)[1]
    assert flag == "the .txt extension does not match the content (image/jpeg)"
    other = JobImage.objects.filter(job=job).exclude(image_id=disguised.image_id).values_list("image_id", flat=True)
    assert 'data-testid="extension-mismatch"' not in alice.get(reverse("jobs:image", args=[job.pk, other[0]])).text


def test_the_panel_shows_each_paths_file_times_with_their_zone(scan, examiner, client_for):
    job = scan(examiner)
    instance = FileInstance.objects.get(job=job, path="screenshots/screen.png")
    panel = client_for(examiner).get(reverse("jobs:image", args=[job.pk, instance.image_id])).text
    times = re.sub(r"<[^>]+>", "", re.search(r'data-testid="file-times">(.*?)</span> <a ', panel, re.S)[1])
    assert instance.btime is not None  # the test folders record birth times (tests/evidence/test_probe.py)
    modified, changed, born = (t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") for t in (
        instance.mtime, instance.ctime, instance.btime))  # fmt: skip
    assert times == f"modified {modified} +00:00 (UTC) · changed {changed} +00:00 (UTC) · created {born} +00:00 (UTC)"
    instance.btime = None
    instance.save(update_fields=["btime"])
    panel = client_for(examiner).get(reverse("jobs:image", args=[job.pk, instance.image_id])).text
    assert re.search(r"· created <span[^>]*>not available</span></span>", panel)
