"""Admission of streaming calls. The server is synchronous: every call holds one of its GRPC_MAX_WORKERS threads
from start to end, and a stream (WatchJobProgress on a job that never starts, StreamFile to a client that does not
read, DrainWorker) may last for hours. Without a limit one user's streams would take every thread, and every other
call, the health check included, would wait behind them.

So streams are admitted up to GRPC_STREAMS_PER_USER per user and GRPC_MAX_STREAMS on the whole server, which is
kept below GRPC_MAX_WORKERS: the threads above it are always left to unary calls. A stream past either limit is
refused at once with RESOURCE_EXHAUSTED (recorded in the audit log like every refusal, api.auth)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from api.errors import ApiError


class StreamSlots:
    """Counts the streams running in this server process, per user and in all."""

    def __init__(self, *, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self._lock = threading.Lock()
        self._by_user: Counter[int] = Counter()

    @property
    def open(self) -> int:
        with self._lock:
            return self._by_user.total()

    @contextmanager
    def held(self, user_id: int) -> Iterator[None]:
        """A slot for one stream of `user_id`, for the duration of the block. Raises ApiError(RESOURCE_EXHAUSTED)
        when the user or the server already runs as many streams as allowed."""
        with self._lock:
            if self._by_user[user_id] >= self.per_user:
                raise ApiError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"you already have {self.per_user} streams open, the most one user may: end one first",
                )
            if self._by_user.total() >= self.total:
                raise ApiError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the server has {self.total} streams open, the most it serves at once: try again later",
                )
            self._by_user[user_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._by_user[user_id] -= 1
                if not self._by_user[user_id]:
                    del self._by_user[user_id]
