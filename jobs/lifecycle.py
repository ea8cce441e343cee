"""Every change of a job's status, one function per transition:

    created -> queued (job_start) -> scanning (job_scan_begin) -> extracting (job_extract_begin)
            -> completed (job_try_complete)
    queued, scanning or extracting -> failed (job_fail) or cancelled (job_cancel)

Each transition is one conditional UPDATE from the states the job may leave, so that of two callers racing for the
same change exactly one makes it, with the transition's audit record and its progress mark (jobs.progress.publisher)
in the same place. Each returns whether the change happened; nothing else in the application writes
`Job.status` (the benchmarks set up rows directly)."""

from __future__ import annotations

import enum
import logging
import os
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from jobs import canvas
from jobs.models import Job
from jobs.progress.publisher import progress_changed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartOutcome:
    """What asking a job to start came to: the start rules the web page and the API share; each only words it."""

    class Result(enum.StrEnum):
        STARTED = "started"  # queued to the workers, with no other scan waiting before it
        QUEUED = "queued"  # queued behind `waiting` other scans waiting for a free worker
        ALREADY_RUNNING = "already running"  # queued, scanning or extracting (or started by someone else meanwhile)
        ENDED = "ended"  # completed, failed or cancelled: only a rerun scans its source again, as a new job
        SOURCE_MISSING = "source missing"  # the source folder is gone or not a folder: the job stays created

    result: Result
    waiting: int = 0

    @property
    def started(self) -> bool:
        return self.result in (self.Result.STARTED, self.Result.QUEUED)


def job_start(*, job: Job) -> StartOutcome:
    """Created -> queued: queue the job's scan under a new discovery lease, once the transaction commits. A job that
    runs or has ended is not started, nor one whose source folder is gone (it may come back: the job can start
    then). `job` is read again from the database."""
    if job.status in Job.ACTIVE:
        return StartOutcome(StartOutcome.Result.ALREADY_RUNNING)
    if job.status in Job.FINAL:
        return StartOutcome(StartOutcome.Result.ENDED)
    if not os.path.isdir(job.source_path):
        return StartOutcome(StartOutcome.Result.SOURCE_MISSING)
    waiting = Job.objects.filter(status=Job.Status.QUEUED).exclude(pk=job.pk).count()
    lease = uuid.uuid4().hex
    with transaction.atomic():
        started = Job.objects.filter(pk=job.pk, status=Job.Status.CREATED).update(
            status=Job.Status.QUEUED, discovery_lease=lease, discovery_active_at=timezone.now()
        )
        if started:
            audit_record("job.start", job_id=job.pk, target=job.name)
            progress_changed(job.pk)
            transaction.on_commit(lambda: canvas.scan_signature(job.pk, lease).apply_async())
    job.refresh_from_db()
    if not started:  # started by someone else meanwhile
        return StartOutcome(StartOutcome.Result.ALREADY_RUNNING)
    if waiting:
        return StartOutcome(StartOutcome.Result.QUEUED, waiting=waiting)
    return StartOutcome(StartOutcome.Result.STARTED)


def job_scan_begin(*, job_id: int) -> bool:
    """Queued -> scanning: the first discovery slice runs."""
    began = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.SCANNING, started_at=timezone.now()
    )
    if began:
        progress_changed(job_id)
    return bool(began)


def job_extract_begin(*, job: Job, lease: str) -> bool:
    """Scanning -> extracting: discovery under `lease` walked the whole source; the stages finish what it
    dispatched. Only while `lease` is still the job's discovery lease. `job` is updated in memory to match."""
    now = timezone.now()
    began = Job.objects.filter(pk=job.pk, status=Job.Status.SCANNING, discovery_lease=lease).update(
        status=Job.Status.EXTRACTING, discovery_finished=True, discovery_finished_at=now, current_path=""
    )
    if began:
        job.status = Job.Status.EXTRACTING
        job.discovery_finished, job.discovery_finished_at, job.current_path = True, now, ""
        progress_changed(job.pk)
    return bool(began)


def job_try_complete(job: Job) -> bool:
    """Extracting -> completed, if discovery is over and every batch is finished. The caller holds the job row lock,
    so the scan task and the last batch cannot both miss the moment; the conditional update makes it happen once."""
    if not job.discovery_finished or job.batches.filter(finished=False).exists():
        return False
    completed = Job.objects.filter(pk=job.pk, status=Job.Status.EXTRACTING).update(
        status=Job.Status.COMPLETED, finished_at=timezone.now()
    )
    if completed:
        counts = {f: getattr(job, f) for f in ("files_seen", "images", "distinct_images", "skipped", "errors")}
        audit_record("job.complete", job_id=job.pk, target=job.name, **counts)
        progress_changed(job.pk)
        logger.info("job %s: completed", job.pk)
    return bool(completed)


def job_fail(*, job_id: int, error: str, lease: str | None = None) -> bool:
    """Queued, scanning or extracting -> failed. With `lease`, only while that is still the job's discovery lease: a
    slice whose lease was handed on (taken for lost and sent again) must not end the job its successor is
    scanning."""
    jobs = Job.objects.filter(pk=job_id, status__in=Job.ACTIVE)
    if lease is not None:
        jobs = jobs.filter(discovery_lease=lease)
    with transaction.atomic():
        failed = jobs.update(status=Job.Status.FAILED, error=error, finished_at=timezone.now())
        if failed:
            audit_record("job.fail", job_id=job_id, detail=error)
    if failed:
        progress_changed(job_id)
    logger.error("job %s failed: %s", job_id, error)
    return bool(failed)


def job_cancel(*, job: Job) -> bool:
    """Queued, scanning or extracting -> cancelled: queued work finds nothing to do, running tasks stop at their
    next batch. `job` is read again from the database."""
    with transaction.atomic():
        cancelled = Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now()
        )
        if cancelled:
            audit_record("job.cancel", job_id=job.pk, target=job.name)
    if cancelled:
        progress_changed(job.pk)
    job.refresh_from_db()
    return bool(cancelled)
