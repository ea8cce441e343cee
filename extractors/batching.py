"""Keeping a model busy: decode and preprocess the next images on worker threads while the model runs on the
current micro-batch.

Pillow's decoders, resizers and the model runtimes (onnxruntime, torch) release the GIL while they work, so
threads overlap for real; a process pool would only add copies of every decoded image.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetched(
    pool: ThreadPoolExecutor, items: Sequence[T], load: Callable[[T], R], *, ahead: int
) -> Iterator[tuple[T, R]]:
    """Yield (item, load(item)) in the order of `items`, with up to `ahead` loads running or done in advance.
    `load` must turn per-item problems into values; whatever it raises propagates (an infrastructure fault)."""
    pending: deque[tuple[T, Future[R]]] = deque()
    queue = iter(items)

    def submit_next() -> None:
        for item in queue:
            pending.append((item, pool.submit(load, item)))
            return

    for _ in range(max(1, ahead)):
        submit_next()
    try:
        while pending:
            item, future = pending.popleft()
            submit_next()
            yield item, future.result()
    finally:
        for _item, future in pending:
            future.cancel()


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
