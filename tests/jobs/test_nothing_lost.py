"""Whole jobs on real workers: every entry of a hostile source becomes a file instance with a clear status, the
counters add up for every job, the same content at two paths is one image, and a second job over content already
analysed links to the earlier results instead of analysing it again."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from content.models import ExifData, Image, StageResult
from jobs.lifecycle import job_start
from jobs.models import FileInstance, Job, StageProgress
from jobs.samples import make_sample_tree, write_photo
from jobs.services import job_create
from tests.support.evidence_trees import assert_counters_add_up, mismatches, recorded
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def scan(path, name: str) -> Job:
    call_command("scan", str(path), "--name", name, stdout=io.StringIO())
    job = Job.objects.get(name=name)
    assert job.status == Job.Status.COMPLETED, job.error
    return job


def finished(progress: StageProgress) -> int:
    return progress.done + progress.failed + progress.skipped + progress.unavailable


@pytest.fixture(autouse=True)
def _every_job_adds_up(transactional_db):
    """Whatever a test did, every job it left behind accounts for each file it saw."""
    yield
    for job in Job.objects.all():
        assert_counters_add_up(job)


@pytest.mark.timeout(120)  # the source holds a FIFO: opening it for reading would block for ever
def test_every_entry_of_a_hostile_source_is_recorded_with_a_clear_status(workers, hostile_source):
    root, expected = hostile_source
    job = scan(root, "hostile")
    assert mismatches(recorded(job), expected) == []
    assert job.files_seen == len(expected)
    assert_counters_add_up(job)
    exif = StageProgress.objects.get(job=job, stage="exif")
    assert exif.total == job.distinct_images == finished(exif)
    turned = FileInstance.objects.get(job=job, path="photos/IMG_0002.jpg").image  # EXIF orientation 6
    assert (turned.raw_width, turned.raw_height, turned.width, turned.height, turned.orientation) == (
        640, 480, 480, 640, 6,
    )  # fmt: skip
    # The image with a hostile EXIF block was analysed like any other: a result, not a crash.
    hostile = FileInstance.objects.get(job=job, path="broken/hostile-exif.jpg")
    assert StageResult.objects.filter(image_id=hostile.image_id, stage="exif").count() == 1


def test_the_same_content_at_two_paths_is_one_image_with_two_file_instances(workers, hostile_source):
    root, _ = hostile_source
    job = scan(root, "duplicates")
    original = FileInstance.objects.get(job=job, path="photos/IMG_0001.jpg")
    copy = FileInstance.objects.get(job=job, path="copies/copy of IMG_0001.jpg")
    assert original.image_id == copy.image_id is not None
    assert (original.sha256, original.md5, original.sha1) == (copy.sha256, copy.md5, copy.sha1)
    assert Image.objects.filter(sha256=original.sha256).count() == 1
    assert StageResult.objects.filter(image_id=original.image_id, stage="exif").count() == 1
    assert job.images == job.distinct_images + 1  # the copy is the only content seen twice


def test_a_second_job_links_analysed_content_instead_of_analysing_it_again(workers, evidence_folder):
    expected = make_sample_tree(evidence_folder)
    first = scan(evidence_folder, "first")
    results = StageResult.objects.count()
    assert results == expected["distinct"] == ExifData.objects.count()
    created = set(StageResult.objects.values_list("id", "created_at"))

    second = scan(evidence_folder, "second")
    assert set(StageResult.objects.values_list("id", "created_at")) == created  # not one row added or redone
    assert Image.objects.count() == expected["distinct"]
    progress = StageProgress.objects.get(job=second, stage="exif")
    assert (progress.total, progress.reused) == (expected["distinct"], expected["distinct"])
    assert finished(progress) == progress.total
    assert second.distinct_images == first.distinct_images
    same_images = set(FileInstance.objects.filter(job=first).values_list("path", "image_id"))
    assert set(FileInstance.objects.filter(job=second).values_list("path", "image_id")) == same_images

    # New content among old: only the new image is analysed.
    write_photo(evidence_folder / "new" / "IMG_2000.jpg", seed=2000)
    third = scan(evidence_folder, "third")
    assert StageResult.objects.count() == results + 1
    progress = StageProgress.objects.get(job=third, stage="exif")
    assert (progress.total, progress.reused, finished(progress)) == (results + 1, results, results + 1)


def test_very_long_paths_are_recorded(workers, long_path_source):
    root, expected = long_path_source
    job = job_create(name="long paths", source_path=root)
    job_start(job=job)
    wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINAL).exists(), timeout=60, message="the job")
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error
    assert mismatches(recorded(job), expected) == []
