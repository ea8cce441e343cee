"""WorkerService: an adapter from gRPC to worker control (api.control). Staff only."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import grpc
from django.conf import settings
from google.protobuf.timestamp_pb2 import Timestamp

from api import control
from api.auth import current_user
from api.errors import ApiError
from imagescanner.v1 import workers_pb2 as pb
from imagescanner.v1 import workers_pb2_grpc

# Celery queue and node names: nothing else reaches a broadcast.
_NAME = re.compile(r"^[\w.@:-]{1,200}$")


def _staff():
    user = current_user()
    if not user.is_staff:
        raise ApiError(grpc.StatusCode.PERMISSION_DENIED, "worker control is for staff")
    return user


def _name(value: str, what: str, *, required: bool = True) -> str:
    if not value and not required:
        return ""
    if not _NAME.match(value):
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{what} must be a Celery {what} name")
    return value


def _task(task: control.TaskInfo) -> pb.Task:
    message = pb.Task(id=task.id, name=task.name, args=task.args, worker_pid=task.worker_pid)
    if task.started:
        stamp = Timestamp()
        stamp.FromDatetime(task.started)
        message.start_time.CopyFrom(stamp)
    return message


def _controlled(call):
    """Run a control call, mapping its errors to status codes."""
    try:
        return call()
    except control.WorkerNotFound as exc:
        raise ApiError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
    except control.ControlRefused as exc:
        raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None


class WorkerServicer(workers_pb2_grpc.WorkerServiceServicer):
    def ListWorkers(self, request, context) -> pb.ListWorkersResponse:
        _staff()
        return pb.ListWorkersResponse(
            workers=[
                pb.Worker(
                    hostname=w.hostname,
                    queues=w.queues,
                    paused_queues=w.paused_queues,
                    pool_size=w.pool_size,
                    active=[_task(t) for t in w.active],
                    reserved=[_task(t) for t in w.reserved],
                    scheduled=[_task(t) for t in w.scheduled],
                    pid=w.pid,
                    total=w.total,
                )
                for w in control.worker_list()
            ]
        )

    def PauseQueue(self, request: pb.PauseQueueRequest, context) -> pb.QueueChangeResponse:
        user = _staff()
        queue, worker = _name(request.queue, "queue"), _name(request.worker, "worker", required=False)
        done = _controlled(lambda: control.queue_pause(queue=queue, worker=worker, by=user))
        if not done:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"no worker consumes queue {queue!r}")
        return pb.QueueChangeResponse(workers=done)

    def ResumeQueue(self, request: pb.ResumeQueueRequest, context) -> pb.QueueChangeResponse:
        _staff()
        queue, worker = _name(request.queue, "queue"), _name(request.worker, "worker", required=False)
        done = _controlled(lambda: control.queue_resume(queue=queue, worker=worker))
        if not done:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"queue {queue!r} is paused on no worker that answers")
        return pb.QueueChangeResponse(workers=done)

    def DrainWorker(self, request: pb.DrainWorkerRequest, context) -> Iterator[pb.DrainStatus]:
        user = _staff()
        worker = _name(request.worker, "worker")
        cancelled = threading.Event()
        context.add_callback(cancelled.set)
        states = control.worker_drain(worker=worker, by=user, interval=settings.GRPC_WATCH_INTERVAL, stop=cancelled)
        while True:
            state = _controlled(lambda: next(states, None))
            if state is None:
                return
            yield pb.DrainStatus(
                worker=state.worker,
                paused_queues=state.paused_queues,
                active=state.active,
                reserved=state.reserved,
                scheduled=state.scheduled,
                idle=state.idle,
            )

    def SetConcurrency(self, request: pb.SetConcurrencyRequest, context) -> pb.SetConcurrencyResponse:
        _staff()
        worker = _name(request.worker, "worker")
        if not 1 <= request.concurrency <= 64:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "concurrency must be 1-64")
        before, after = _controlled(
            lambda: control.worker_concurrency_set(worker=worker, concurrency=request.concurrency)
        )
        return pb.SetConcurrencyResponse(worker=worker, previous=before, pool_size=after)
