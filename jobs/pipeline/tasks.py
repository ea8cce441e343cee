"""Celery tasks: thin adapters that own the retry policy. The router in settings (jobs.pipeline.routing) picks each
task's queue; the work lives in jobs.pipeline.scanning and jobs.pipeline.stages, the status changes in
jobs.lifecycle."""

from __future__ import annotations

import functools
import logging
import random
from urllib.parse import urlsplit

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from kombu.exceptions import OperationalError as BrokerOperationalError

from hashsets.signals import hash_sets_changed
from jobs import canvas, faceindex, hashmatching, lifecycle, pdqmatching
from jobs.pipeline import persons, scanning, stages

logger = logging.getLogger(__name__)

# SQLSTATE classes of faults that pass: connection lost (08), transaction rollback such as a deadlock (40),
# insufficient resources (53), operator intervention such as a server restart (57).
TRANSIENT_SQLSTATES = {"08", "40", "53", "57"}
# Sending the next discovery slice after the broker went away: try until it is back, however long that takes.
UNTIL_THE_BROKER_IS_BACK = {"max_retries": None, "interval_start": 1, "interval_step": 1, "interval_max": 5}


@functools.cache
def broker_errors() -> tuple[type[BaseException], ...]:
    """What sending a task raises once its retries are spent while the broker or the result backend is away:
    kombu's OperationalError on publishing (kombu wraps the broker client's errors in it), and redis-py's connection
    errors where Redis keeps the results (its backend gives up after 20 tries, e.g. when a chord records its size,
    and raises them as they are). None of them is an OSError."""
    if urlsplit(settings.CELERY_RESULT_BACKEND).scheme not in ("redis", "rediss"):
        return (BrokerOperationalError,)
    # Imported only here: a configuration without Redis (the embedded one) need not be able to import redis-py.
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (BrokerOperationalError, RedisConnectionError, RedisTimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the database, the broker or an evidence mount went away for a moment. A data error (a
    value the database refuses) is not: retrying it would only delay the failure."""
    if isinstance(exc, OperationalError):
        state = getattr(exc.__cause__, "sqlstate", None)
        return state is None or state[:2] in TRANSIENT_SQLSTATES
    return isinstance(exc, (*broker_errors(), InterfaceError, OSError, MemoryError))


@shared_task(name=canvas.SCAN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def scan_source(self, job_id: int, lease: str = "") -> None:
    try:
        scanning.scan_job(job_id=job_id, slice_seconds=settings.SCAN_SLICE_SECONDS, lease=lease)
    except SoftTimeLimitExceeded:
        lifecycle.job_fail(job_id=job_id, error="a discovery slice exceeded the task time limit", lease=lease)
    except Exception as exc:  # every way out ends the job or retries it: a job is never left scanning
        if isinstance(exc, broker_errors()):
            # Discovery pauses, however long the outage: what the slice walked is committed, with its batches
            # (those not yet handed to the broker are dispatched by the next slice, or by the stalled-work sweep),
            # and the next slice is sent as soon as the broker takes it. A fresh slice, not a retry: an outage is
            # no fault of the job's and uses up none of its retries. Should this wait outlast the task's time
            # limit, the job is left scanning, and the sweep sends its discovery again.
            logger.warning("job %s: the broker is unreachable (%s): discovery waits until it is back", job_id, exc)
            canvas.scan_signature(job_id, lease).apply_async(retry_policy=UNTIL_THE_BROKER_IS_BACK)
            logger.info("job %s: the broker is back, discovery goes on", job_id)
        elif is_transient(exc) and self.request.retries < self.max_retries:
            logger.warning("job %s: discovery interrupted (%s), retrying", job_id, exc)
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        else:
            logger.exception("job %s: discovery failed", job_id)
            lifecycle.job_fail(job_id=job_id, error=f"discovery failed: {type(exc).__name__}: {exc}", lease=lease)


@shared_task(name=canvas.STAGE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def run_stage(self, batch_id: int, stage: str) -> dict[str, int]:
    try:
        # In-process (embedded) runs cannot wait for another job's worker: they analyse everything themselves.
        return stages.stage_batch_run(batch_id=batch_id, stage=stage, wait_for_others=not self.request.is_eager)
    except stages.StageWaiting as waiting:
        logger.info("batch %s: %s waits for another job (%s)", batch_id, stage, waiting)
        raise self.retry(countdown=1 + random.random() * 2, max_retries=None) from waiting
    except SoftTimeLimitExceeded:
        stages.batch_stage_fail(batch_id=batch_id, stage=stage, error="time limit exceeded")
    except Exception as exc:  # a bug or a bad batch: recorded as failed, so the job can still complete
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries + random.random()) from exc
        logger.exception("batch %s: stage %s failed", batch_id, stage)
        stages.batch_stage_fail(batch_id=batch_id, stage=stage, error=f"{type(exc).__name__}: {exc}")
    return {}


@shared_task(name=canvas.BATCH_FINISH_TASK, acks_late=True, reject_on_worker_lost=True)
def batch_finish(batch_id: int) -> None:
    stages.batch_finish(batch_id=batch_id)


@shared_task(name=canvas.HASH_SETS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def hash_sets_rematch(self, hash_set_id: int) -> None:
    """Every job matched again against a set that changed. Run again whole on a transient fault: each job's matching
    skips what is recorded already."""
    try:
        hashmatching.hash_matches_refresh(hash_set_id)
        pdqmatching.pdq_matches_refresh(hash_set_id)
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        raise


@shared_task(name=canvas.PERSONS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def persons_update(self, case_id: int) -> None:
    """The faces of a case found since the last update, clustered into its persons. Run again on a transient fault:
    what a chunk committed is seen, and is not clustered twice."""
    try:
        persons.persons_run(case_id=case_id)
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        raise


@shared_task(name=canvas.FACE_INDEX_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def face_index_maintain(self, recogniser_sha256: str) -> None:
    """A recogniser's face index brought level with the database (faces added, deleted ones removed). Run again
    whole on a transient fault: it compares the index with the database afresh."""
    try:
        faceindex.face_index_maintain(recogniser_sha256=recogniser_sha256)
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        raise


@receiver(hash_sets_changed)
def _hash_sets_changed(sender, *, hash_set_id: int, **kwargs) -> None:
    """Sent once a set's change committed: its matching over every job (heavy: a join per job) goes to the jobs
    queue. In the embedded configuration (eager tasks) it runs here, in the process that changed the set, before
    the change's sender goes on."""
    hashmatching.hash_sets_forget()
    canvas.hash_sets_signature(hash_set_id).apply_async()
