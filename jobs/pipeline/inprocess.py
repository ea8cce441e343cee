"""The embedded configuration's stand-in for stage workers: one thread of this process that runs the stage chords
of scan batches, in the order they were dispatched, while discovery goes on hashing the next files.

With Celery's eager mode (CELERY_TASK_ALWAYS_EAGER) a chord runs inside `apply_async`. Run from the discovery loop,
every batch's analysis would stop discovery for as long as it takes; handed to this thread, the two overlap as they
do across workers in the distributed configuration. The job completes when the last batch finishes here
(`jobs.pipeline.stages.batch_finish`), so whoever waits for a job in this configuration waits for its status, as
`manage.py scan` does. The thread is not a daemon: the interpreter finishes the batches queued before it exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery.canvas import Signature, chord
from django.db import connection

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_runner: ThreadPoolExecutor | None = None


def _run(job_id: int, tasks: list[Signature], on_crash: Callable[[int, str], None]) -> None:
    try:
        # This thread's own connection, kept from batch to batch (CONN_MAX_AGE) unless it broke: a new one costs
        # the database a new session, and the bulk inserts their staging tables again (database.bulk).
        connection.close_if_unusable_or_obsolete()
        for task in tasks:
            task.apply()
    except Exception as exc:
        logger.exception("job %s: a stage batch crashed", job_id)
        on_crash(job_id, f"a stage batch crashed: {type(exc).__name__}: {exc}")


def submit(job_id: int, canvas: chord, *, on_crash: Callable[[int, str], None]) -> None:
    """Run a batch's chord on the stage thread, as eager Celery would: the header's tasks one after the other, then
    the body; `on_crash(job_id, message)` if one raises. The chord is taken apart rather than applied: an eager
    chord joins its header's results, which Celery refuses inside a task by a process-wide switch that the
    discovery task, running on another thread, turns on and off."""
    global _runner
    with _lock:
        if _runner is None:
            _runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stages")
        _runner.submit(_run, job_id, [*canvas.tasks, canvas.body], on_crash)
