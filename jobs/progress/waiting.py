"""What an active job waits for that will not come by itself: a broker that does not answer, or a queue that no
worker consumes (e.g. a job with the faces stage while only jobs and exif workers run). The job page, its live
progress, `manage.py scan` and the gRPC API show it from here.

The broker is asked over Celery's remote control (`inspect().active_queues()`), with a short timeout: a worker
that is busy still answers, from its main process. The answer is kept QUEUE_CHECK_SECONDS in each process, so that
pages and sockets do not broadcast a question each. https://docs.celeryq.dev/en/stable/userguide/workers.html#inspecting-workers
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from celery import current_app
from django.conf import settings

from jobs.config import stage_queue
from jobs.models import BatchStage, Job

logger = logging.getLogger(__name__)

# The queue of discovery's tasks (jobs.pipeline.routing).
DISCOVERY_QUEUE = "jobs"
BROKER_UNREACHABLE = "the broker is unreachable: discovery and extraction pause until it is back"


@dataclass(frozen=True)
class Consumers:
    """What the broker said: whether it answered, and the queues at least one worker consumes."""

    broker_reachable: bool
    queues: frozenset[str]


_lock = threading.Lock()
_cached: tuple[float, Consumers] | None = None


def _ask() -> Consumers:
    timeout = settings.QUEUE_CHECK_TIMEOUT
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        replies = current_app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:  # noqa: BLE001 - whatever the broker's client raises, it did not answer
        logger.warning("the broker does not answer: %s", exc)
        return Consumers(broker_reachable=False, queues=frozenset())
    return Consumers(True, frozenset(queue["name"] for queues in replies.values() for queue in queues))


def consumers() -> Consumers | None:
    """The broker's answer, at most QUEUE_CHECK_SECONDS old; None in the embedded configuration, where every task
    runs in the process that sends it (there are no queues)."""
    global _cached
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    with _lock:  # one question at a time: the callers meanwhile take its answer
        if _cached is None or time.monotonic() - _cached[0] >= settings.QUEUE_CHECK_SECONDS:
            _cached = (time.monotonic(), _ask())
        return _cached[1]


def job_waits(*, job: Job) -> list[str]:
    """Sentences for the examiner, one per thing the job waits for that no worker will bring: the broker, or the
    queue of discovery or of a stage with work left. Empty for a job that is not active, and when nothing is
    missing."""
    if job.status not in Job.ACTIVE:
        return []
    found = consumers()
    if found is None:
        return []
    if not found.broker_reachable:
        return [BROKER_UNREACHABLE]
    waits = []
    if not job.discovery_finished and DISCOVERY_QUEUE not in found.queues:
        waits.append(f"discovery waits: no worker consumes the {DISCOVERY_QUEUE} queue")
    if job.discovery_finished:
        pending = set(
            BatchStage.objects.filter(batch__job=job, finished=False).values_list("stage", flat=True).distinct()
        )
    else:
        pending = set(job.run_config.stages)
    for stage in [s for s in job.run_config.stages if s in pending]:
        queue = stage_queue(stage)
        if queue not in found.queues:
            waits.append(f"{stage} waits: no worker consumes the {queue} queue")
    return waits
