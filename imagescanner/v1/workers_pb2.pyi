import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(_message.Message):
    __slots__ = ("id", "name", "args", "worker_pid", "start_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    WORKER_PID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    args: str
    worker_pid: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., args: _Optional[str] = ..., worker_pid: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Worker(_message.Message):
    __slots__ = ("hostname", "queues", "paused_queues", "pool_size", "active", "reserved", "scheduled", "pid", "total")
    class TotalEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    PAUSED_QUEUES_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    paused_queues: _containers.RepeatedScalarFieldContainer[str]
    pool_size: int
    active: _containers.RepeatedCompositeFieldContainer[Task]
    reserved: _containers.RepeatedCompositeFieldContainer[Task]
    scheduled: _containers.RepeatedCompositeFieldContainer[Task]
    pid: int
    total: _containers.ScalarMap[str, int]
    def __init__(self, hostname: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., paused_queues: _Optional[_Iterable[str]] = ..., pool_size: _Optional[int] = ..., active: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., reserved: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., scheduled: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., pid: _Optional[int] = ..., total: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[Worker]
    def __init__(self, workers: _Optional[_Iterable[_Union[Worker, _Mapping]]] = ...) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ("queue", "worker")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    queue: str
    worker: str
    def __init__(self, queue: _Optional[str] = ..., worker: _Optional[str] = ...) -> None: ...

class ResumeQueueRequest(_message.Message):
    __slots__ = ("queue", "worker")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    queue: str
    worker: str
    def __init__(self, queue: _Optional[str] = ..., worker: _Optional[str] = ...) -> None: ...

class QueueChangeResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workers: _Optional[_Iterable[str]] = ...) -> None: ...

class DrainWorkerRequest(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: str
    def __init__(self, worker: _Optional[str] = ...) -> None: ...

class DrainStatus(_message.Message):
    __slots__ = ("worker", "paused_queues", "active", "reserved", "scheduled", "idle")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    PAUSED_QUEUES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    worker: str
    paused_queues: _containers.RepeatedScalarFieldContainer[str]
    active: int
    reserved: int
    scheduled: int
    idle: bool
    def __init__(self, worker: _Optional[str] = ..., paused_queues: _Optional[_Iterable[str]] = ..., active: _Optional[int] = ..., reserved: _Optional[int] = ..., scheduled: _Optional[int] = ..., idle: _Optional[bool] = ...) -> None: ...

class SetConcurrencyRequest(_message.Message):
    __slots__ = ("worker", "concurrency")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    worker: str
    concurrency: int
    def __init__(self, worker: _Optional[str] = ..., concurrency: _Optional[int] = ...) -> None: ...

class SetConcurrencyResponse(_message.Message):
    __slots__ = ("worker", "previous", "pool_size")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    worker: str
    previous: int
    pool_size: int
    def __init__(self, worker: _Optional[str] = ..., previous: _Optional[int] = ..., pool_size: _Optional[int] = ...) -> None: ...
