"""Celery task of re-verification: a thin adapter (the router in settings sends it to the `jobs` queue)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from verification.services import VERIFY_TASK, verification_execute


@shared_task(name=VERIFY_TASK, time_limit=settings.VERIFY_TIME_LIMIT, soft_time_limit=settings.VERIFY_TIME_LIMIT - 60)
def verify_run(run_id: int) -> None:
    # Not acknowledged late: a run claims itself (queued -> running) once, so a copy of the message finds it taken.
    verification_execute(run_id=run_id)
