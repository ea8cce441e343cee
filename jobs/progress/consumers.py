"""WebSocket consumers of live progress: adapters between a job's channel-layer group and a browser.

Each authenticates from the session (AuthMiddlewareStack) and checks access to a job when it joins the job's
group; a refused socket is closed before it is accepted, so the browser sees the handshake fail. Each also joins its
user's group, where `access_revoked` asks it to check again: a socket stops following a job its user may no longer
see (a share removed) and closes once the user is deactivated or deleted. Every check reads the user from the
database (the session's copy is from the handshake), and a check older than ACCESS_CHECK_MAX_AGE is made again
before the next event goes out, so a revocation message that was lost delays a closing by that much at most; a
check that fails (the database unreachable) closes the socket.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from jobs.access import job_get_for_user, job_list_for_user
from jobs.models import Job
from jobs.progress.publisher import GroupMessage, ReviewMessage, RevokeMessage, job_group, user_group
from jobs.progress.snapshot import ProgressEvent, progress_event
from jobs.progress.waiting import consumers, job_waits

logger = logging.getLogger(__name__)

# At most this many jobs followed by one jobs-list socket (a page of the list shows 50).
MAX_WATCHED = 100
# Seconds after which a socket checks access again before forwarding an event, should `access_revoked` not reach it.
ACCESS_CHECK_MAX_AGE = 30.0


class _AccessConsumer(AsyncJsonWebsocketConsumer):
    """What both consumers share: following groups, checking access again on a revocation or once the last check is
    older than ACCESS_CHECK_MAX_AGE, and leaving all groups before closing on a revocation, so that not one more
    event goes out."""

    checked_at = float("-inf")

    async def check_access(self) -> None:
        """Check again what the user may see now; leave what they may not (closing if nothing is left)."""
        raise NotImplementedError

    async def recheck(self) -> None:
        self.checked_at = time.monotonic()
        try:
            await self.check_access()
        except Exception:  # fail closed: a socket whose access cannot be checked forwards nothing more
            logger.warning("user %s: access not checked, socket closed", self.scope["user"].pk, exc_info=True)
            await self.revoke()

    async def follow(self, group: str) -> None:
        if group not in self.groups:
            self.groups.append(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def unfollow(self, group: str) -> None:
        self.groups.remove(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    async def access_revoke(self, message: RevokeMessage) -> None:
        # A revocation queued before an earlier one closed the socket (one change can revoke a user's access to
        # several jobs) finds it in no group: it is closed already, and closing again would send a second close.
        if self.groups:
            await self.recheck()

    async def job_progress(self, message: GroupMessage) -> None:
        if time.monotonic() - self.checked_at > ACCESS_CHECK_MAX_AGE:
            await self.recheck()
        # An event queued for this socket before it left the job's group is dropped, not forwarded.
        if job_group(message["event"]["job"]) in self.groups:
            await self.forward(message["event"])

    async def forward(self, event: ProgressEvent) -> None:
        await self.send_json(event)

    async def review_changed(self, message: ReviewMessage) -> None:
        """Decisions about images of the job's case changed: only a job's own socket (the gallery) forwards it."""

    async def revoke(self) -> None:
        for group in list(self.groups):
            await self.unfollow(group)
        await self.close()


class JobProgressConsumer(_AccessConsumer):
    """/ws/jobs/<id>/: a snapshot from the database on connect, then every progress event of the job, each with
    what the job waits for that no worker will bring (jobs.progress.waiting), until the user may no longer see it."""

    async def connect(self) -> None:
        user, job_id = self.scope["user"], self.scope["url_route"]["kwargs"]["job_id"]
        if not user.is_authenticated:
            await self.close()
            return
        self.groups = []
        # The user's group before the check: a revocation from here on reaches this socket.
        await self.follow(user_group(user.pk))
        self.checked_at = time.monotonic()
        if not await database_sync_to_async(_may_view)(user, job_id):
            await self.revoke()
            return
        # Join before reading the snapshot, so that no change falls between the two; events carry a sequence
        # number, so the browser drops one older than the snapshot.
        await self.follow(job_group(job_id))
        await self.accept()
        await _ask_workers()
        await self.send_json(await database_sync_to_async(_snapshot_with_waits)(job_id))

    async def check_access(self) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if not await database_sync_to_async(_may_view)(self.scope["user"], job_id):
            await self.revoke()

    async def review_changed(self, message: ReviewMessage) -> None:
        if time.monotonic() - self.checked_at > ACCESS_CHECK_MAX_AGE:
            await self.recheck()
        if job_group(message["job"]) in self.groups:
            await self.send_json(message["event"])

    async def forward(self, event: ProgressEvent) -> None:
        await _ask_workers()
        await self.send_json(await database_sync_to_async(_with_waits)(event))


class JobListConsumer(_AccessConsumer):
    """/ws/jobs/: the jobs list sends {"watch": {id: status shown}}; the socket then forwards the events of those
    the user may see (the list updates status icons and counters from them), starting with a snapshot of each that
    is running or whose status is not the one shown. It stops following a job the user may no longer see, and
    closes once the user may see none (deactivated or deleted)."""

    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        self.groups, self.watched = [], set()
        await self.follow(user_group(self.scope["user"].pk))
        self.checked_at = time.monotonic()
        await self.accept()

    async def receive_json(self, content: dict, **kwargs) -> None:
        wanted = content.get("watch") if isinstance(content, dict) else None
        if not isinstance(wanted, dict):
            return
        shown = {int(i): status for i, status in list(wanted.items())[:MAX_WATCHED] if str(i).isdigit()}
        # The user as they are now, not as they were at the handshake: staff rights or the account may be gone.
        self.checked_at = time.monotonic()
        user = await database_sync_to_async(_current)(self.scope["user"])
        if not user.is_active:
            await self.revoke()
            return
        visible = await database_sync_to_async(_visible)(user, set(shown))
        for job_id in visible:
            self.watched.add(job_id)
            await self.follow(job_group(job_id))
        stale = [job_id for job_id, status in visible.items() if status in Job.ACTIVE or status != shown[job_id]]
        for job_id in stale:
            await self.send_json(await database_sync_to_async(_snapshot)(job_id))

    async def check_access(self) -> None:
        user = await database_sync_to_async(_current)(self.scope["user"])
        if not user.is_active:
            await self.revoke()
            return
        lost = self.watched - set(await database_sync_to_async(_visible)(user, self.watched))
        for job_id in lost:
            self.watched.discard(job_id)
            await self.unfollow(job_group(job_id))


def _current(user):
    """The user as the database has them now (the session's copy is from the handshake): AnonymousUser once
    deleted."""
    return get_user_model().objects.filter(pk=user.pk).first() or AnonymousUser()


def _may_view(user, job_id: int) -> bool:
    try:
        job_get_for_user(user=_current(user), job_id=job_id)
    except Job.DoesNotExist:
        return False
    return True


def _visible(user, ids: set[int]) -> dict[int, str]:
    return dict(job_list_for_user(user=user).filter(pk__in=ids).order_by("pk").values_list("pk", "status"))


def _snapshot(job_id: int):
    try:
        return progress_event(job_id=job_id, kind="snapshot")
    except Job.DoesNotExist:
        return {"type": "deleted", "job": job_id}


async def _ask_workers() -> None:
    """Refresh the cached answer of the workers (jobs.progress.waiting) on a thread of its own: waiting for their
    answers must not hold the thread that all database work of this process shares."""
    await sync_to_async(consumers, thread_sensitive=False)()


def _snapshot_with_waits(job_id: int):
    return _with_waits(_snapshot(job_id))


def _with_waits(event):
    if event["type"] == "deleted":
        return event
    job = Job.objects.filter(pk=event["job"]).first()
    return {**event, "waiting": job_waits(job=job) if job is not None else []}
