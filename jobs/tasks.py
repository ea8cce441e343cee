"""Celery tasks: thin adapters that own the retry policy. Routing lives in settings (CELERY_TASK_ROUTES) and in
jobs.pipeline; the work lives in jobs.scanning and jobs.stages."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from jobs import scanning, stages

logger = logging.getLogger(__name__)

# Faults worth another try: the database or a mount went away for a moment. Anything else is a bug or a bad batch.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, OSError, MemoryError)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.SCAN_TASK_TIME_LIMIT,
    soft_time_limit=settings.SCAN_TASK_TIME_LIMIT - 60,
)
def scan_source(self, job_id: int) -> None:
    try:
        scanning.scan_job(job_id=job_id)
    except INFRASTRUCTURE_ERRORS as exc:
        if self.request.retries < 3:
            logger.warning("job %s: scan interrupted (%s), retrying", job_id, exc)
            raise self.retry(exc=exc, countdown=10 * 2**self.request.retries) from exc
        scanning.job_fail(job_id=job_id, error=f"discovery failed: {exc}")
    except SoftTimeLimitExceeded:
        scanning.job_fail(job_id=job_id, error="discovery exceeded its time limit (SCAN_TASK_TIME_LIMIT)")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def run_stage(self, batch_id: int, stage: str) -> dict[str, int]:
    try:
        return stages.stage_batch_run(batch_id=batch_id, stage=stage)
    except SoftTimeLimitExceeded:
        stages.batch_stage_fail(batch_id=batch_id, stage=stage, error="time limit exceeded")
    except INFRASTRUCTURE_ERRORS as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries + random.random()) from exc
        stages.batch_stage_fail(batch_id=batch_id, stage=stage, error=str(exc))
    except Exception as exc:
        logger.exception("batch %s: stage %s crashed", batch_id, stage)
        stages.batch_stage_fail(batch_id=batch_id, stage=stage, error=f"{type(exc).__name__}: {exc}")
    return {}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def batch_finish(batch_id: int) -> None:
    stages.batch_finish(batch_id=batch_id)
