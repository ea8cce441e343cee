"""The Celery router (named in CELERY_TASK_ROUTES): where each task goes.

Scans, batch bookkeeping and re-verifications of a source go to `jobs`; a stage task goes to its extractor's queue
unless SCAN_STAGE_QUEUES sends that stage elsewhere (e.g. faces=faces.gpu on a deployment with GPU workers).
"""

from __future__ import annotations

from typing import Any

from jobs.canvas import STAGE_TASK
from jobs.config import stage_queue


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str] | None:
    if name == STAGE_TASK:
        stage = kwargs.get("stage") if kwargs and "stage" in kwargs else args[1]
        return {"queue": stage_queue(stage)}
    if name.startswith(("jobs.tasks.", "verification.tasks.")):
        return {"queue": "jobs"}
    return None
