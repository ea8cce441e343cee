"""WebSocket consumers of live progress: adapters between a job's channel-layer group and a browser.

Each authenticates from the session (AuthMiddlewareStack) and checks access to a job once, when it joins the job's
group; a refused socket is closed before it is accepted, so the browser sees the handshake fail.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.models import Job
from jobs.progress import GroupMessage, job_group, progress_event
from jobs.selectors import job_get_for_user, job_list_for_user
from jobs.waiting import consumers, job_waits

# At most this many jobs followed by one jobs-list socket (a page of the list shows 50).
MAX_WATCHED = 100


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    """/ws/jobs/<id>/: a snapshot from the database on connect, then every progress event of the job, each with
    what the job waits for that no worker will bring (jobs.waiting)."""

    async def connect(self) -> None:
        user = self.scope["user"]
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if not await database_sync_to_async(_may_view)(user, job_id):
            await self.close()
            return
        self.groups = [job_group(job_id)]
        # Join before reading the snapshot, so that no change falls between the two; events carry a sequence
        # number, so the browser drops one older than the snapshot.
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self.accept()
        await _ask_workers()
        await self.send_json(await database_sync_to_async(_snapshot_with_waits)(job_id))

    async def job_progress(self, message: GroupMessage) -> None:
        await _ask_workers()
        await self.send_json(await database_sync_to_async(_with_waits)(message["event"]))


class JobListConsumer(AsyncJsonWebsocketConsumer):
    """/ws/jobs/: the jobs list sends {"watch": {id: status shown}}; the socket then forwards the events of those
    the user may see (the list updates status icons and counters from them), starting with a snapshot of each that
    is running or whose status is not the one shown."""

    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        self.groups = []
        await self.accept()

    async def receive_json(self, content: dict, **kwargs) -> None:
        wanted = content.get("watch") if isinstance(content, dict) else None
        if not isinstance(wanted, dict):
            return
        shown = {int(i): status for i, status in list(wanted.items())[:MAX_WATCHED] if str(i).isdigit()}
        visible = await database_sync_to_async(_visible)(self.scope["user"], set(shown))
        for job_id in visible:
            group = job_group(job_id)
            if group not in self.groups:
                self.groups.append(group)
                await self.channel_layer.group_add(group, self.channel_name)
        stale = [job_id for job_id, status in visible.items() if status in Job.ACTIVE or status != shown[job_id]]
        for job_id in stale:
            await self.send_json(await database_sync_to_async(_snapshot)(job_id))

    async def job_progress(self, message: GroupMessage) -> None:
        await self.send_json(message["event"])


def _may_view(user, job_id: int) -> bool:
    try:
        job_get_for_user(user=user, job_id=job_id)
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
    """Refresh the cached answer of the workers (jobs.waiting) on a thread of its own: waiting for their answers
    must not hold the thread that all database work of this process shares."""
    await sync_to_async(consumers, thread_sensitive=False)()


def _snapshot_with_waits(job_id: int):
    return _with_waits(_snapshot(job_id))


def _with_waits(event):
    if event["type"] == "deleted":
        return event
    job = Job.objects.filter(pk=event["job"]).first()
    return {**event, "waiting": job_waits(job=job) if job is not None else []}
