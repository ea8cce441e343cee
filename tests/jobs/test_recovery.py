"""Which stages and scans the recovery sweep takes for lost, when it sends them again, when and by whom a batch is
recorded finished, and that a scan's lease keeps discovery to one task at a time.
(The pipeline tests show a lost task recovered end to end, with real workers.)"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import kombu.exceptions
import pytest
import redis.exceptions
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from evidence.probe import probe_all
from evidence.walk import walk
from jobs.models import BatchStage, FileInstance, Job, ScanBatch
from jobs.pipeline.recovery import stalled_discovery_redispatch, stalled_stages_redispatch
from jobs.pipeline.scanning import LeaseLost, _commit_batch, scan_job
from jobs.pipeline.stages import batch_finish, batch_stage_finish
from jobs.pipeline.tasks import is_transient, scan_source
from jobs.samples import write_photo
from jobs.services import job_create


def extracting_job(evidence_dir, **fields) -> Job:
    job = job_create(name="recovery", source_path=evidence_dir, stages=["exif"])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.EXTRACTING, discovery_finished=True, **fields)
    job.refresh_from_db()
    return job


def batch_of(job: Job, seq: int, *, stages: list[str], dispatched_ago: float) -> ScanBatch:
    batch = ScanBatch.objects.create(job=job, seq=seq, work={stage: [] for stage in stages})
    BatchStage.objects.bulk_create([BatchStage(batch=batch, stage=stage) for stage in stages])
    ScanBatch.objects.filter(pk=batch.pk).update(dispatched_at=timezone.now() - timedelta(seconds=dispatched_ago))
    return batch


def silent_for(batch: ScanBatch, stage: str, seconds: float) -> None:
    BatchStage.objects.filter(batch=batch, stage=stage).update(active_at=timezone.now() - timedelta(seconds=seconds))


def test_a_silent_stage_is_dispatched_again_then_after_twice_as_long(db, evidence_dir):
    job = extracting_job(evidence_dir)
    lost = batch_of(job, 0, stages=["exif"], dispatched_ago=60)
    queued = batch_of(job, 1, stages=["exif"], dispatched_ago=1)
    running = batch_of(job, 2, stages=["exif"], dispatched_ago=60)
    silent_for(running, "exif", 1)

    assert stalled_stages_redispatch(stall_seconds=10) == 1
    stage = BatchStage.objects.get(batch=lost)
    assert stage.redispatches == 1
    assert timezone.now() - stage.active_at < timedelta(seconds=5)
    assert not BatchStage.objects.filter(batch__in=[queued, running], redispatches__gt=0).exists()

    # Silent again: the next time waits twice as long.
    silent_for(lost, "exif", 15)
    assert stalled_stages_redispatch(stall_seconds=10) == 0
    silent_for(lost, "exif", 25)
    assert stalled_stages_redispatch(stall_seconds=10) == 1
    assert BatchStage.objects.get(batch=lost).redispatches == 2


def test_only_running_jobs_unfinished_stages_are_dispatched_again(db, evidence_dir):
    job = extracting_job(evidence_dir)
    done = batch_of(job, 0, stages=["exif"], dispatched_ago=60)
    BatchStage.objects.filter(batch=done).update(finished=True, finished_at=timezone.now())
    cancelled = extracting_job(evidence_dir)
    batch_of(cancelled, 0, stages=["exif"], dispatched_ago=60)
    Job.objects.filter(pk=cancelled.pk).update(status=Job.Status.CANCELLED)

    assert stalled_stages_redispatch(stall_seconds=10) == 0
    assert not BatchStage.objects.filter(redispatches__gt=0).exists()


def test_a_batch_is_finished_only_once_every_stage_is(db, evidence_dir):
    job = extracting_job(evidence_dir)
    batch = batch_of(job, 0, stages=["exif", "probe"], dispatched_ago=60)
    BatchStage.objects.filter(batch=batch, stage="exif").update(finished=True, finished_at=timezone.now())

    # The body of a chord that ran exif alone again, while the batch's probe stage is still due.
    batch_finish(batch_id=batch.pk)
    batch.refresh_from_db()
    job.refresh_from_db()
    assert not batch.finished
    assert job.status == Job.Status.EXTRACTING

    BatchStage.objects.filter(batch=batch, stage="probe").update(finished=True, finished_at=timezone.now())
    batch_finish(batch_id=batch.pk)
    batch.refresh_from_db()
    job.refresh_from_db()
    assert batch.finished
    assert job.status == Job.Status.COMPLETED


def test_a_batch_whose_stages_all_finished_without_its_chord_body_is_recorded(db, evidence_dir):
    job = extracting_job(evidence_dir)
    batch = batch_of(job, 0, stages=["exif", "probe"], dispatched_ago=60)
    long_ago = timezone.now() - timedelta(seconds=30)
    BatchStage.objects.filter(batch=batch).update(finished=True, finished_at=long_ago)
    recent = batch_of(job, 1, stages=["exif"], dispatched_ago=60)
    BatchStage.objects.filter(batch=recent).update(finished=True, finished_at=timezone.now())

    assert stalled_stages_redispatch(stall_seconds=10) == 0
    assert list(ScanBatch.objects.filter(job=job, finished=True)) == [batch]  # the other's body may be on its way

    BatchStage.objects.filter(batch=recent).update(finished_at=long_ago)
    stalled_stages_redispatch(stall_seconds=10)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED


def test_the_task_that_finishes_a_batch_s_last_stage_finishes_the_batch(
    db, evidence_dir, django_capture_on_commit_callbacks
):
    """Without its chord body: a chord's count is off when a task is delivered twice or lost."""
    job = extracting_job(evidence_dir)
    batch = batch_of(job, 0, stages=["exif", "probe"], dispatched_ago=1)

    with django_capture_on_commit_callbacks(execute=True):
        batch_stage_finish(batch, "exif", Counter())
    batch.refresh_from_db()
    assert not batch.finished

    with django_capture_on_commit_callbacks(execute=True):
        batch_stage_finish(batch, "probe", Counter())
    batch.refresh_from_db()
    job.refresh_from_db()
    assert batch.finished
    assert job.status == Job.Status.COMPLETED


def discovering_job(evidence_dir, status: Job.Status, *, lease: str, active_ago: float | None) -> Job:
    job = job_create(name="discovery", source_path=evidence_dir, stages=[])
    active_at = None if active_ago is None else timezone.now() - timedelta(seconds=active_ago)
    Job.objects.filter(pk=job.pk).update(status=status, discovery_lease=lease, discovery_active_at=active_at)
    job.refresh_from_db()
    return job


def test_a_silent_discovery_is_sent_again_under_a_new_lease(db, evidence_dir):
    queued = discovering_job(evidence_dir, Job.Status.QUEUED, lease="a" * 32, active_ago=60)
    scanning = discovering_job(evidence_dir, Job.Status.SCANNING, lease="b" * 32, active_ago=60)
    busy = discovering_job(evidence_dir, Job.Status.SCANNING, lease="c" * 32, active_ago=1)
    cancelled = discovering_job(evidence_dir, Job.Status.CANCELLED, lease="d" * 32, active_ago=60)
    never_queued = discovering_job(evidence_dir, Job.Status.CREATED, lease="", active_ago=None)
    Job.objects.filter(pk=never_queued.pk).update(created_at=timezone.now() - timedelta(seconds=60))

    assert sorted(stalled_discovery_redispatch(stall_seconds=10)) == sorted([queued.pk, scanning.pk])
    for job, old in ((queued, "a"), (scanning, "b")):
        job.refresh_from_db()
        assert job.discovery_lease not in ("", old * 32)
        assert timezone.now() - job.discovery_active_at < timedelta(seconds=5)
    for job, lease in ((busy, "c" * 32), (cancelled, "d" * 32), (never_queued, "")):
        job.refresh_from_db()
        assert job.discovery_lease == lease
    # Sent again just now, and silent again: the next time waits twice as long, and so on.
    assert stalled_discovery_redispatch(stall_seconds=10) == []
    silent = timezone.now() - timedelta(seconds=15)
    Job.objects.filter(pk=queued.pk).update(discovery_active_at=silent)
    assert stalled_discovery_redispatch(stall_seconds=10) == []
    Job.objects.filter(pk=queued.pk).update(discovery_active_at=silent - timedelta(seconds=10))
    assert stalled_discovery_redispatch(stall_seconds=10) == [queued.pk]
    queued.refresh_from_db()
    assert queued.discovery_redispatches == 2


def test_only_the_lease_holder_records_discovery(db, evidence_dir):
    """A scan message of an old lease runs nothing, and a slice whose lease was handed on while it ran writes
    nothing more: its next batch is refused whole."""
    for seed in range(3):
        write_photo(evidence_dir / f"img_{seed}.jpg", width=32, height=24, seed=seed)
    job = discovering_job(evidence_dir, Job.Status.QUEUED, lease="new", active_ago=60)
    Job.objects.filter(pk=job.pk).update(discovery_redispatches=3)  # sent again three times, none ran yet

    scan_job(job_id=job.pk, slice_seconds=60, lease="old")
    job.refresh_from_db()
    assert (job.status, job.files_seen) == (Job.Status.QUEUED, 0)

    root = os.fsencode(evidence_dir)
    probes = list(probe_all(root, walk(root), threads=1, max_pixels=10**8, full_verify=False))
    assert len(probes) == 3
    with pytest.raises(LeaseLost), transaction.atomic():
        _commit_batch(job, probes, "old", after=None)
    job.refresh_from_db()
    assert job.files_seen == 0
    assert not FileInstance.objects.filter(job=job).exists()

    scan_job(job_id=job.pk, slice_seconds=60, lease="new")
    job.refresh_from_db()
    assert (job.status, job.files_seen, job.images) == (Job.Status.COMPLETED, 3, 3)
    assert job.discovery_redispatches == 0  # a scan that ran was not lost: a later loss waits one stall again
    assert FileInstance.objects.filter(job=job).count() == 3


def test_a_copy_of_a_slice_that_commits_second_writes_nothing(db, evidence_dir):
    """A scan message delivered again while its first delivery still runs (held through a broker outage longer
    than the visibility timeout) runs the same slice under the same lease: of the two, only the first to commit a
    batch records it, so each file is counted once."""
    for seed in range(3):
        write_photo(evidence_dir / f"img_{seed}.jpg", width=32, height=24, seed=seed)
    job = discovering_job(evidence_dir, Job.Status.SCANNING, lease="same", active_ago=1)
    root = os.fsencode(evidence_dir)
    probes = list(probe_all(root, walk(root), threads=1, max_pixels=10**8, full_verify=False))
    with transaction.atomic():
        _commit_batch(job, probes, "same", after=None)
    with pytest.raises(LeaseLost), transaction.atomic():
        _commit_batch(job, probes, "same", after=None)
    job.refresh_from_db()
    assert (job.files_seen, job.images, bytes(job.resume_after)) == (3, 3, b"img_2.jpg")
    assert FileInstance.objects.filter(job=job).count() == 3


@pytest.mark.parametrize(
    "error",
    [redis.exceptions.ConnectionError("Error 111 connecting"), kombu.exceptions.OperationalError("refused")],
    ids=["result-backend", "publish"],
)
def test_a_broker_outage_is_transient(error):
    assert is_transient(error)
    assert not is_transient(ValueError("a bug"))


def test_a_slice_whose_lease_is_handed_on_stops_after_the_batch_it_was_recording(db, evidence_dir, monkeypatch):
    """The sweep hands the job's discovery to a new scan while a slice of the old lease runs: the batch the slice
    was recording when that happened is its last."""
    for seed in range(3):
        write_photo(evidence_dir / f"img_{seed}.jpg", width=32, height=24, seed=seed)
    job = discovering_job(evidence_dir, Job.Status.SCANNING, lease="old", active_ago=60)
    Job.objects.filter(pk=job.pk).update(config=replace(job.run_config, batch_files=1).to_stored())
    recorded = []

    def hand_on(job_id: int) -> None:  # called as each batch is recorded
        recorded.append(job_id)
        Job.objects.filter(pk=job_id).update(discovery_lease="new")

    monkeypatch.setattr("jobs.pipeline.scanning.progress_changed", hand_on)
    scan_job(job_id=job.pk, slice_seconds=60, lease="old")
    job.refresh_from_db()
    assert (recorded, job.files_seen, job.status, job.discovery_finished) == ([job.pk], 1, Job.Status.SCANNING, False)
    assert FileInstance.objects.filter(job=job).count() == 1


def test_only_the_lease_holder_s_failure_ends_the_job(db, evidence_dir, monkeypatch):
    """A slice whose lease was handed on, failing (a bug, its time limit), leaves the job to the slice now scanning
    it; the same failure under the job's lease fails the job."""
    job = discovering_job(evidence_dir, Job.Status.SCANNING, lease="new", active_ago=1)

    def broken(**kwargs) -> None:
        raise ValueError("a bug in discovery")

    monkeypatch.setattr("jobs.pipeline.scanning.scan_job", broken)
    scan_source.apply(args=(job.pk, "old"))
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.SCANNING, "")
    assert not AuditEvent.objects.filter(action="job.fail", job_id=job.pk).exists()

    scan_source.apply(args=(job.pk, "new"))
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, "discovery failed: ValueError: a bug in discovery")
    assert AuditEvent.objects.filter(action="job.fail", job_id=job.pk).count() == 1
