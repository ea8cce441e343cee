"""Discovery and stage work the broker lost, found and sent again.

A broker can lose a message: Redis's transport takes a message off its list and only then records it as
unacknowledged, so a Redis shutdown between the two forgets it. A batch whose stage task is lost would never finish,
and its job would never complete. So every stage task records when it starts (`BatchStage.active_at`), and
`stalled_stages_redispatch` - run every few seconds by every worker (StalledWorkSweep, below), not by a
message that could be lost in turn - dispatches again the stages of active jobs' batches that are unfinished and
have been silent for longer than SCAN_STALL_SECONDS: never started since they were dispatched, or started so long
ago that the task time limit has ended them. A stage dispatched again and still silent waits twice as long before
the next time, and so on, so that a queue no worker consumes does not fill with copies.

A copy of a task that was only slow is harmless: a stage skips images that already have results and counts a batch
once (jobs.pipeline.stages), and a batch is finished only once all its stages are (`jobs.pipeline.stages.batch_finish`).

Discovery is a chain of scan tasks, each slice queueing the next, under the job's discovery lease
(`Job.discovery_lease`): `stalled_discovery_redispatch` sends the scan of a queued or scanning job again, under a new
lease, once discovery has been silent for SCAN_STALL_SECONDS (its message lost before it ran, or between slices).
The old lease's messages then run nothing, and a slice still running under it stops at its next batch, so discovery
never runs twice at once.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import canvas
from jobs.models import BatchStage, Job, ScanBatch
from jobs.pipeline.stages import batch_finish

logger = logging.getLogger(__name__)

# Jobs whose stage tasks run (jobs.pipeline.stages.stage_batch_run); a cancelled or failed job's leftovers are not
# wanted.
_RUNNING = (Job.Status.SCANNING, Job.Status.EXTRACTING)
# Jobs whose discovery runs (jobs.pipeline.scanning.scan_job).
_DISCOVERING = (Job.Status.QUEUED, Job.Status.SCANNING)


def _due(last_active: datetime, redispatches: int, *, now: datetime, stall: timedelta) -> bool:
    """Silent long enough to be sent again: `stall`, doubled for each time it was sent again already."""
    return last_active < now - stall * 2 ** min(redispatches, 16)


def _redispatch(batch: ScanBatch, stages: list[str]) -> None:
    chord = canvas.batch_canvas(batch_id=batch.pk, stages=stages)
    chord.apply_async()
    # A batch the scan committed but never handed to the broker is now dispatched: the scan must not send it again.
    ScanBatch.objects.filter(pk=batch.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


def stalled_stages_redispatch(*, stall_seconds: float) -> int:
    """Dispatch again every stage of an active job's batch that stalled, and record the batches whose stages all
    finished without the batch being recorded. Returns how many stages were dispatched again. Safe to run in any
    number of processes at once: each stage is claimed by a conditional update before it is dispatched."""
    now = timezone.now()
    stall = timedelta(seconds=stall_seconds)
    rows = (
        BatchStage.objects.filter(finished=False, batch__finished=False, batch__job__status__in=_RUNNING)
        .annotate(last_active=Coalesce("active_at", "batch__dispatched_at", "batch__created_at"))
        .filter(last_active__lt=now - stall)
        .values_list("pk", "batch_id", "stage", "active_at", "redispatches", "last_active")
    )
    due: dict[int, list[str]] = defaultdict(list)
    for pk, batch_id, stage, active_at, redispatches, last_active in rows:
        if not _due(last_active, redispatches, now=now, stall=stall):
            continue
        claim = BatchStage.objects.filter(pk=pk, finished=False, redispatches=redispatches, active_at=active_at)
        if claim.update(active_at=now, redispatches=redispatches + 1):
            due[batch_id].append(stage)

    for batch in ScanBatch.objects.filter(pk__in=list(due)).order_by("pk"):
        stages = due[batch.pk]
        logger.warning(
            "job %s: batch %s: %s silent for over %.0f s, its task lost: dispatched again",
            batch.job_id,
            batch.seq,
            ", ".join(stages),
            stall_seconds,
        )
        try:
            _redispatch(batch, stages)
        except Exception:  # the broker is away: the stages stay claimed and are tried again later
            logger.exception("job %s: batch %s could not be dispatched again", batch.job_id, batch.seq)

    # Every stage ran, but the batch was not recorded: the task that finished its last stage stopped (killed, or
    # the database went away) between committing the stage and recording the batch.
    unfinished_stage = BatchStage.objects.filter(batch=OuterRef("pk"), finished=False)
    orphans = (
        ScanBatch.objects.filter(finished=False, job__status__in=_RUNNING)
        .exclude(Exists(unfinished_stage))
        .annotate(last_stage=Max("stages__finished_at"))
        .filter(last_stage__lt=now - stall)
        .values_list("pk", "job_id", "seq")
    )
    for batch_id, job_id, seq in orphans:
        logger.warning("job %s: batch %s: every stage finished, recording the batch", job_id, seq)
        batch_finish(batch_id=batch_id)
    return sum(len(stages) for stages in due.values())


def stalled_discovery_redispatch(*, stall_seconds: float) -> list[int]:
    """Send again, under a new lease, the scan of every job whose discovery has been silent for longer than
    `stall_seconds`, then twice as long, and so on. Returns those jobs' ids. Safe to run in any number of processes
    at once: each job's lease is changed by a conditional update before its scan is sent, and that update also marks
    discovery alive."""
    now = timezone.now()
    stall = timedelta(seconds=stall_seconds)
    rows = (
        Job.objects.filter(status__in=_DISCOVERING, discovery_finished=False)
        .annotate(last_active=Coalesce("discovery_active_at", "created_at"))
        .filter(last_active__lt=now - stall)
        .values_list("pk", "discovery_lease", "discovery_active_at", "discovery_redispatches", "last_active")
    )
    sent = []
    for job_id, old, active_at, redispatches, last_active in rows:
        if not _due(last_active, redispatches, now=now, stall=stall):
            continue
        lease = uuid.uuid4().hex
        # The claim holds only if nothing touched the job since it was read (a None matches as IS NULL).
        claim = Job.objects.filter(pk=job_id, status__in=_DISCOVERING, discovery_lease=old)
        claim = claim.filter(discovery_active_at=active_at)
        if not claim.update(discovery_lease=lease, discovery_active_at=now, discovery_redispatches=redispatches + 1):
            continue
        logger.warning("job %s: discovery silent for over %.0f s, its scan lost: sent again", job_id, stall_seconds)
        try:
            canvas.scan_signature(job_id, lease).apply_async()
        except Exception:  # the broker is away: the job stays silent and is tried again later
            logger.exception("job %s: its scan could not be sent again", job_id)
            continue
        sent.append(job_id)
    return sent


class StalledWorkSweep(bootsteps.StartStopStep):
    """Every worker looks for discovery and stage work the broker lost on its own timer, in its main process: there
    is no beat, and a message that drove the sweep could be lost like the ones it looks for. The sweeps of several
    workers do not collide (each job's lease and each stage is claimed before it is sent)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        if not worker.use_eventloop:  # the timer is a thread of its own
            self._schedule(worker.timer)

    def register_with_event_loop(self, worker, hub) -> None:
        """The event loop forgets its timers whenever the broker connection is lost, and registers its steps again
        once it is back (celery.worker.loops.asynloop): a broker restart is when lost tasks are likeliest."""
        self._schedule(hub.timer)

    def _schedule(self, timer) -> None:
        interval = min(60.0, max(0.5, settings.SCAN_STALL_SECONDS / 4))
        self.tref = timer.call_repeatedly(interval, self.sweep, args=(settings.SCAN_STALL_SECONDS,))

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def sweep(stall_seconds: float) -> None:
        close_old_connections()
        try:
            stalled_discovery_redispatch(stall_seconds=stall_seconds)
            stalled_stages_redispatch(stall_seconds=stall_seconds)
        except Exception:  # the database is away: the next sweep tries again
            logger.exception("looking for stalled work failed")
        finally:
            close_old_connections()
