"""Live progress: the event that carries a job's state to browsers, and the per-process publisher that sends it.

Every event is built from the database, so it holds absolute counts: a coalesced, lost or late event costs nothing,
the next one carries the whole state again. Callers only mark a job as changed (`progress_changed`); a background
thread in each process sends each changed job at most once per `PROGRESS_EVENT_INTERVAL` to the job's
channel-layer group, so publishing never waits on the database or Redis inside a stage task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime, timedelta
from typing import Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from jobs.models import BatchStage, FileInstance, Job
from jobs.selectors import job_progress

logger = logging.getLogger(__name__)

NEWEST_ERRORS = 5
RATE_WINDOW = timedelta(seconds=60)
_STATUS_RANK = {status: rank for rank, status in enumerate(Job.Status)}


class StageState(TypedDict):
    stage: str
    total: int
    done: int
    failed: int
    skipped: int
    unavailable: int
    finished: int  # StageProgress.finished
    reused: int
    message: str
    summary: str  # StageProgress.summary
    gap: str  # StageProgress.gap
    rate: float  # images analysed per second over the last minute (reused results not counted)
    eta_seconds: float | None  # None while nothing was analysed yet; a lower bound until discovery finishes


class FileError(TypedDict):
    path: str
    error: str


class ProgressEvent(TypedDict):
    """What a job looks like now. `type` is "snapshot" when sent on connect, "progress" for the deltas after it,
    "deleted" when the job is gone (then only `job` is set). `seq` never decreases while a job runs: a browser
    drops an event older than the state it shows."""

    type: Literal["snapshot", "progress", "deleted"]
    job: int
    seq: NotRequired[int]
    status: NotRequired[str]
    error: NotRequired[str]
    files_seen: NotRequired[int]
    images: NotRequired[int]
    distinct_images: NotRequired[int]
    skipped: NotRequired[int]
    errors: NotRequired[int]
    bytes_seen: NotRequired[int]
    image_types: NotRequired[dict[str, int]]
    current_path: NotRequired[str]
    discovery_finished: NotRequired[bool]
    files_per_second: NotRequired[float]
    elapsed_seconds: NotRequired[float]
    stages: NotRequired[list[StageState]]
    newest_errors: NotRequired[list[FileError]]
    # What the active job waits for that no worker will bring (jobs.waiting). Added by the web process, which
    # asks the broker, to what it sends a browser.
    waiting: NotRequired[list[str]]


class GroupMessage(TypedDict):
    """What goes through the channel layer: the consumer's `job_progress` handler forwards `event`."""

    type: Literal["job.progress"]
    event: ProgressEvent


class RevokeMessage(TypedDict):
    """Sent to a user's group when they may have lost access to jobs: each of their sockets checks again."""

    type: Literal["access.revoke"]


def job_group(job_id: int) -> str:
    return f"job_{job_id}"


def user_group(user_id: int) -> str:
    """Every live-progress socket of one user: where `access_revoked` reaches them."""
    return f"user_{user_id}"


def access_revoked(user_id: int) -> None:
    """The user may have lost access to jobs (a share removed, the account deactivated or deleted): once the current
    transaction commits, each of their open sockets checks access again and stops following, or closes on, what
    they may no longer see."""

    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(user_group(user_id), RevokeMessage(type="access.revoke"))
        except Exception:  # the change itself is committed; say loudly that open sockets may not have heard of it
            logger.error("user %s: open sockets not told that access was revoked", user_id, exc_info=True)

    transaction.on_commit(send)


def _recent_rates(job_id: int, *, now: datetime, elapsed: float) -> dict[str, float]:
    """Images analysed per second by each stage over the last RATE_WINDOW (reused results not counted): the pace
    now, which is what an ETA needs, read from the batches' finish times so that every reader agrees."""
    window = min(RATE_WINDOW.total_seconds(), elapsed)
    if window <= 0:
        return {}
    rows = (
        BatchStage.objects.filter(batch__job_id=job_id, finished=True, finished_at__gte=now - RATE_WINDOW)
        .values("stage")
        .annotate(analysed=Sum(F("done") + F("failed") + F("skipped") - F("reused")))
    )
    return {row["stage"]: max(row["analysed"] or 0, 0) / window for row in rows}


def _stage_state(p: dict, *, rate: float, discovery_finished: bool) -> StageState:
    remaining = max(p["total"] - p["finished"], 0)
    eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 and discovery_finished else None)
    return StageState(**p, rate=round(rate, 2), eta_seconds=None if eta is None else round(eta, 1))


def progress_event(*, job_id: int, kind: Literal["snapshot", "progress"] = "progress") -> ProgressEvent:
    """The job's state as the browser shows it, read from the database. Raises Job.DoesNotExist."""
    job = Job.objects.get(pk=job_id)
    s = job_progress(job=job)
    now = job.finished_at or timezone.now()
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    rates = _recent_rates(job_id, now=now, elapsed=elapsed) if s["status"] in Job.ACTIVE else {}
    stages = [
        _stage_state(p, rate=rates.get(p["stage"], 0.0), discovery_finished=s["discovery_finished"])
        for p in s["stages"]
    ]
    newest = (
        FileInstance.objects.filter(job_id=job_id, status=FileInstance.Status.ERROR)
        .order_by("-id")
        .values("path", "error")[:NEWEST_ERRORS]
        if s["errors"]
        else []
    )
    seq = s["files_seen"] + sum(p["total"] + p["finished"] for p in stages)
    return ProgressEvent(
        type=kind,
        job=job_id,
        seq=_STATUS_RANK[s["status"]] * 10**15 + seq,
        status=s["status"],
        error=s["error"],
        files_seen=s["files_seen"],
        images=s["images"],
        distinct_images=s["distinct_images"],
        skipped=s["skipped"],
        errors=s["errors"],
        bytes_seen=s["bytes_seen"],
        image_types=s["image_types"],
        current_path=s["current_path"],
        discovery_finished=s["discovery_finished"],
        files_per_second=round(s["files_seen"] / elapsed, 1) if elapsed > 0 else 0.0,
        elapsed_seconds=round(elapsed, 1),
        stages=stages,
        newest_errors=[FileError(path=e["path"], error=e["error"]) for e in newest],
    )


class ProgressPublisher:
    """Coalesces progress per job within one process. `changed` is cheap and never blocks on I/O; a daemon thread
    (started on first use, again after a fork) sends every job changed since its last round."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed: set[int] = set()
        self._wake = threading.Event()
        self._hurry = threading.Event()  # a flush waits: skip the pause between rounds
        self._thread: threading.Thread | None = None
        self._pid = 0
        # Changes marked so far, and how many of them a finished round has dealt with (for `flush`).
        self._marked = 0
        self._settled = 0
        self._round_done = threading.Condition(self._lock)

    def changed(self, job_id: int) -> None:
        with self._lock:
            self._changed.add(job_id)
            self._marked += 1
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="progress-publisher", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self, timeout: float) -> None:
        """Wait, at most `timeout` seconds, until every change marked so far in this process has been sent (or its
        sending given up). A process about to exit calls this: the daemon thread dies with it, and a last change (a
        job cancelled at the terminal) would never reach the browsers."""
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                return
            target = self._marked
            self._hurry.set()
            self._round_done.wait_for(lambda: self._settled >= target, timeout=timeout)
            self._hurry.clear()

    def _take(self) -> tuple[set[int], int]:
        with self._lock:
            jobs, self._changed = self._changed, set()
            self._wake.clear()
            return jobs, self._marked

    def _settle(self, marked: int) -> None:
        with self._lock:
            self._settled = marked
            self._round_done.notify_all()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                if not self._wake.is_set():
                    # Idle: no connection stays open while nothing happens (a worker may wait for hours, and tests
                    # drop their database); while a job runs, the same connection serves every round.
                    connection.close()
                    self._wake.wait()
                jobs, marked = self._take()
                if jobs:
                    self._send(loop, jobs)
                self._settle(marked)
                # The bound on the rate: whatever changes meanwhile goes out together in the next round.
                self._hurry.wait(settings.PROGRESS_EVENT_INTERVAL)
        finally:
            loop.close()

    def _send(self, loop: asyncio.AbstractEventLoop, jobs: set[int]) -> None:
        layer = get_channel_layer()
        try:
            close_old_connections()
            for job_id in sorted(jobs):
                try:
                    event = progress_event(job_id=job_id)
                except Job.DoesNotExist:
                    event = ProgressEvent(type="deleted", job=job_id)
                message = GroupMessage(type="job.progress", event=event)
                loop.run_until_complete(layer.group_send(job_group(job_id), message))
        except Exception:  # a lost event is repaired by the next; the pipeline must go on
            logger.warning("progress events for jobs %s not sent", sorted(jobs), exc_info=True)
            connection.close()


_publisher = ProgressPublisher()


def progress_changed(job_id: int) -> None:
    """The job's progress changed: publish it once the current transaction commits (coalesced per process)."""
    if settings.PROGRESS_EVENTS:
        transaction.on_commit(lambda: _publisher.changed(job_id))


def progress_flush(timeout: float = 5.0) -> None:
    """Before this process exits: send what it marked as changed (see ProgressPublisher.flush)."""
    _publisher.flush(timeout)
