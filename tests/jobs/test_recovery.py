"""Which stages the recovery sweep takes for lost, when it sends them again, and when and by whom a batch is
recorded finished.
(The pipeline tests show a lost task recovered end to end, with real workers.)"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from jobs.models import BatchStage, Job, ScanBatch
from jobs.recovery import stalled_stages_redispatch
from jobs.services import job_create
from jobs.stages import batch_finish, batch_stage_finish


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
