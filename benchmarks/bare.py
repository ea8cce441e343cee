"""The baseline the scanner is measured against: walk a tree and hash every file (MD5, SHA-1 and SHA-256 from one
read), nothing else. No Django, no typing, no database.

With `threads` above one, files are hashed on that many threads while the main thread walks, as discovery probes
them (evidence.probe.probe_all); hashing and reading leave the interpreter lock free, so this is what the same
parallelism gives a loop that does nothing else. Four files per thread in flight keep the threads busy here:
nothing else holds up the main thread, which discovery's longer queue is for.

`python -m benchmarks.bare PATH [THREADS]` runs it once and prints one JSON line (files, bytes, seconds): run as a
subprocess, it also gives the peak RSS of a Python process doing only this.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Pass:
    files: int
    bytes: int
    seconds: float


def _hash_file(path: str) -> int:
    """Read and hash one file in 1 MiB reads (a small file is a single read); its size."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fp:
        while block := fp.read(CHUNK):
            md5.update(block)
            sha1.update(block)
            sha256.update(block)
            size += len(block)
    md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
    return size


def _paths(root: str) -> Iterator[str]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            yield os.path.join(folder, name)


def hash_tree(root: str, threads: int = 1) -> Pass:
    """Read and hash every regular file under `root`, on `threads` threads."""
    files = total = 0
    started = time.perf_counter()
    if threads <= 1:
        for path in _paths(root):
            total += _hash_file(path)
            files += 1
        return Pass(files, total, time.perf_counter() - started)
    with ThreadPoolExecutor(threads, thread_name_prefix="bare") as pool:
        pending: deque[Future[int]] = deque()
        for path in _paths(root):
            pending.append(pool.submit(_hash_file, path))
            if len(pending) >= 4 * threads:
                total += pending.popleft().result()
                files += 1
        while pending:
            total += pending.popleft().result()
            files += 1
    return Pass(files, total, time.perf_counter() - started)


if __name__ == "__main__":
    print(json.dumps(asdict(hash_tree(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1))))
