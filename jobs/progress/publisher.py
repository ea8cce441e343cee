"""Live progress: the per-process publisher that sends a job's state (jobs.progress.snapshot) to browsers.

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
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.dispatch import receiver

from cases.signals import membership_lost
from jobs.models import Job
from jobs.progress.snapshot import ProgressEvent, progress_event
from review.signals import review_changed

logger = logging.getLogger(__name__)


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


@receiver(membership_lost)
def _membership_lost(sender, *, user_id: int, **kwargs) -> None:
    access_revoked(user_id)


class ReviewEvent(TypedDict):
    """What a browser following a job of the case gets when decisions about images of the case changed: `images`
    (empty when too many changed to name them) and `what` changed ("category", "bookmark", "note", "reviewed")."""

    type: Literal["review"]
    case: int
    images: list[int]
    what: str


class ReviewMessage(TypedDict):
    """What goes through the channel layer to each job group of the case: the consumer's `review_changed` handler
    forwards `event` (with the job it was sent for)."""

    type: Literal["review.changed"]
    job: int
    event: ReviewEvent


@receiver(review_changed)
def _review_changed(sender, *, case_id: int, image_ids: list[int], what: str, **kwargs) -> None:
    """Sent once the change committed (review.services): every socket following a job of the case hears of it, so
    each page showing those images reads their decisions again."""
    event = ReviewEvent(type="review", case=case_id, images=list(image_ids), what=what)
    try:
        layer = get_channel_layer()
        for job_id in Job.objects.filter(case_id=case_id).order_by("pk").values_list("pk", flat=True):
            async_to_sync(layer.group_send)(
                job_group(job_id), ReviewMessage(type="review.changed", job=job_id, event=event)
            )
    except Exception:  # the change is committed; a page not told shows it on its next reload
        logger.warning("case %s: review change not sent to open pages", case_id, exc_info=True)


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
