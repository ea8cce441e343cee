"""The Celery task that builds a report asked for in the web app: thin, the work is reports.services.report_build
(which keeps a failure on the report). Routed to the `jobs` queue by the settings (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from reports.services import REPORT_TASK, report_build


@shared_task(name=REPORT_TASK, acks_late=True)
def report_build_task(report_id: int) -> None:
    report_build(report_id=report_id)
