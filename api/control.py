"""Worker control over Celery's remote control (broadcast commands through the broker): what each worker consumes
and holds, pausing and resuming queues, draining a worker, resizing its pool.

https://docs.celeryq.dev/en/stable/userguide/workers.html#remote-control
Celery reports only the queues a worker consumes now, so the queues paused here are recorded (api.QueuePause):
that is how a paused queue is told from one the worker never had. A queue resumed elsewhere (Flower, `celery
control add_consumer`) or by a restart is simply consumed again, and no longer shown as paused.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from api.selectors import queue_pauses
from api.services import queue_pause_clear, queue_pause_record
from audit.services import audit_record

logger = logging.getLogger(__name__)


class WorkerNotFound(LookupError):
    """No worker of that name answered."""


class ControlRefused(RuntimeError):
    """A worker answered with an error (e.g. a pool cannot shrink while every process is busy)."""


@dataclass(frozen=True)
class TaskInfo:
    id: str
    name: str
    args: str
    worker_pid: str = ""
    started: dt.datetime | None = None


@dataclass(frozen=True)
class WorkerInfo:
    hostname: str
    queues: list[str]
    paused_queues: list[str]
    pool_size: int
    pid: int
    active: list[TaskInfo] = field(default_factory=list)
    reserved: list[TaskInfo] = field(default_factory=list)
    scheduled: list[TaskInfo] = field(default_factory=list)
    total: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DrainState:
    worker: str
    paused_queues: list[str]
    active: int
    reserved: int
    scheduled: int

    @property
    def idle(self) -> bool:
        return not (self.active or self.reserved or self.scheduled)


def _timeout() -> float:
    return settings.GRPC_INSPECT_TIMEOUT


def _inspect(workers: list[str]):
    # With the workers named and `limit` set, each inspection returns as soon as all of them answered.
    return current_app.control.inspect(destination=workers, limit=len(workers), timeout=_timeout())


def workers_alive() -> list[str]:
    """The node names of the workers that answer a ping (this waits the whole inspect timeout: nobody knows how
    many will answer)."""
    replies = current_app.control.ping(timeout=_timeout()) or []
    return sorted(name for reply in replies for name in reply)


def _known(worker: str) -> None:
    if not current_app.control.ping(destination=[worker], limit=1, timeout=_timeout()):
        raise WorkerNotFound(f"no worker {worker!r} answered")


def _task(request: dict[str, Any]) -> TaskInfo:
    # `scheduled` wraps the request with its ETA; the others are the request itself.
    request = request.get("request", request)
    started = request.get("time_start")
    return TaskInfo(
        id=request.get("id") or "",
        name=request.get("name") or request.get("type") or "",
        args=json.dumps(request.get("args") or [], separators=(",", ":"), default=str),
        worker_pid=str(request.get("worker_pid") or ""),
        # time_start is the worker's time.time() (wall clock) when the task started.
        started=dt.datetime.fromtimestamp(started, tz=dt.UTC) if started else None,
    )


def _pool_size(stats: dict[str, Any]) -> int:
    pool = stats.get("pool") or {}
    processes = pool.get("processes")
    return len(processes) if isinstance(processes, list) else int(pool.get("max-concurrency") or 0)


def _consumed(workers: list[str]) -> dict[str, list[str]]:
    found = _inspect(workers).active_queues() or {}
    return {worker: sorted(q["name"] for q in found.get(worker) or []) for worker in workers}


def worker_list() -> list[WorkerInfo]:
    """Every worker that answers, with its queues (consumed and paused), pool and the tasks it holds."""
    names = workers_alive()
    if not names:
        return []
    inspect = _inspect(names)
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    reserved = inspect.reserved() or {}
    scheduled = inspect.scheduled() or {}
    consumed = _consumed(names)
    pauses = queue_pauses()
    workers = []
    for name in names:
        queues = consumed.get(name, [])
        info = stats.get(name) or {}
        workers.append(
            WorkerInfo(
                hostname=name,
                queues=queues,
                paused_queues=sorted(q for q in pauses.get(name, {}) if q not in queues),
                pool_size=_pool_size(info),
                pid=int(info.get("pid") or 0),
                active=[_task(t) for t in active.get(name) or []],
                reserved=[_task(t) for t in reserved.get(name) or []],
                scheduled=[_task(t) for t in scheduled.get(name) or []],
                total={k: int(v) for k, v in (info.get("total") or {}).items()},
            )
        )
    return workers


def _confirmed(replies: list[dict[str, Any]] | None) -> tuple[list[str], list[str]]:
    """(workers that answered ok, error messages)."""
    ok, errors = [], []
    for reply in replies or []:
        for worker, body in reply.items():
            if isinstance(body, dict) and "ok" in body:
                ok.append(worker)
            else:
                errors.append(f"{worker}: {body.get('error') if isinstance(body, dict) else body}")
    return sorted(ok), errors


def _consumers_change(command: Callable[..., Any], queue: str, targets: list[str]) -> list[str]:
    """Send `command` (cancel_consumer or add_consumer) for `queue` to `targets`. Returns the workers that
    confirmed; raises ControlRefused when any answered with an error."""
    replies = command(queue, destination=targets, reply=True, limit=len(targets), timeout=_timeout())
    confirmed, errors = _confirmed(replies)
    if errors:
        raise ControlRefused("; ".join(errors))
    return confirmed


def queue_pause(
    *, queue: str, worker: str = "", by: AbstractBaseUser | None = None, drained: bool = False
) -> list[str]:
    """Stop `queue` being consumed on `worker`, or on every worker that consumes it now. Returns the workers that
    confirmed. Raises WorkerNotFound when the named worker does not answer."""
    if worker:
        _known(worker)
        targets = [worker]
    else:
        names = workers_alive()
        targets = [w for w, queues in _consumed(names).items() if queue in queues] if names else []
    if not targets:
        return []
    confirmed = _consumers_change(current_app.control.cancel_consumer, queue, targets)
    for name in confirmed:
        queue_pause_record(worker=name, queue=queue, by=by, drained=drained)
    audit_record("queue.pause", target=f"{queue} on {', '.join(confirmed)}", queue=queue, workers=confirmed)
    logger.info("queue %s paused on %s", queue, ", ".join(confirmed))
    return confirmed


def queue_resume(*, queue: str, worker: str = "") -> list[str]:
    """Consume `queue` again on `worker` (any queue: this is also how a worker is given a queue it never had), or
    on every worker where it was paused. Returns the workers that confirmed."""
    if worker:
        _known(worker)
        targets = [worker]
    else:
        alive = set(workers_alive())
        targets = sorted(w for w, queues in queue_pauses().items() if queue in queues and w in alive)
    if not targets:
        return []
    confirmed = _consumers_change(current_app.control.add_consumer, queue, targets)
    for name in confirmed:
        queue_pause_clear(worker=name, queue=queue)
    audit_record("queue.resume", target=f"{queue} on {', '.join(confirmed)}", queue=queue, workers=confirmed)
    logger.info("queue %s resumed on %s", queue, ", ".join(confirmed))
    return confirmed


def _holding(worker: str) -> tuple[int, int, int]:
    inspect = _inspect([worker])
    counts = []
    for found in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        if not found or worker not in found:
            raise WorkerNotFound(f"worker {worker!r} stopped answering")
        counts.append(len(found[worker] or []))
    return counts[0], counts[1], counts[2]


def worker_drain(
    *, worker: str, by: AbstractBaseUser | None = None, interval: float = 0.5, stop: threading.Event | None = None
) -> Iterator[DrainState]:
    """Pause every queue the worker consumes, then report what it still holds every `interval` seconds until it
    holds nothing (the last state is idle) or `stop` is set. Tasks it holds are not revoked: they finish."""
    _known(worker)
    for queue in _consumed([worker])[worker]:
        queue_pause(queue=queue, worker=worker, by=by, drained=True)
    paused = sorted(queue_pauses().get(worker, {}))
    audit_record("worker.drain", target=worker, queues=paused)
    stop = stop or threading.Event()
    while True:
        state = DrainState(worker, paused, *_holding(worker))
        yield state
        if state.idle or stop.wait(interval):
            return


def worker_concurrency_set(*, worker: str, concurrency: int, settle: float = 15.0) -> tuple[int, int]:
    """Grow or shrink the worker's pool to `concurrency` processes. Returns (size before, size after); waits up to
    `settle` seconds for the pool to reach the new size (a shrinking pool ends idle processes only)."""

    def size() -> int:
        stats = _inspect([worker]).stats() or {}
        if worker not in stats:
            raise WorkerNotFound(f"no worker {worker!r} answered")
        return _pool_size(stats[worker])

    before = size()
    delta = concurrency - before
    if delta:
        command = current_app.control.pool_grow if delta > 0 else current_app.control.pool_shrink
        replies = command(abs(delta), destination=[worker], reply=True, limit=1, timeout=_timeout())
        confirmed, errors = _confirmed(replies)
        if errors or not confirmed:
            raise ControlRefused("; ".join(errors) or f"worker {worker!r} did not confirm")
    deadline = time.monotonic() + settle
    after = size()
    while after != concurrency and time.monotonic() < deadline:
        threading.Event().wait(0.2)
        after = size()
    logger.info("worker %s: pool %s -> %s processes", worker, before, after)
    audit_record("worker.concurrency", target=worker, asked=concurrency, before=before, after=after)
    return before, after
