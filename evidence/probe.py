"""Probing: every entry a walk found (`evidence.walk`) ends as a `Probe` with status image, skipped or error.

`probe` reads one regular file once, hashing it (MD5, SHA-1, SHA-256), typing it by its magic bytes and, for images,
reading the header and checking the data is complete. `probe_all` probes a walk's entries on threads or in worker
processes, in their order. `digest` and `digest_all` read and hash a file the same way and do nothing else: what
re-verifying a job's source compares with what the scan recorded.

Paths are handled as bytes from end to end: evidence file names need not be valid UTF-8.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from itertools import islice
from typing import Any, BinaryIO

from evidence.display import display_path
from evidence.filetypes import EXTENSION_TYPES, sniff
from evidence.images import MIME_FORMATS, ImageInfo, format_label, open_image, read_info
from evidence.jpeg import jpeg_info
from evidence.opening import EvidenceError, describe_os_error, evidence_readlink, open_evidence
from evidence.pickling import pickled_by_position
from evidence.verification import verify_image
from evidence.walk import Entry, Kind, join_path

# Files up to this size are read into memory once (hashes, magic and header all come from that one read);
# larger ones are hashed as they are read, a megabyte at a time, and their header is read again from the file
# (from the page cache by then): reading a large file into one fresh buffer costs a fifth of its hashing time.
IN_MEMORY_LIMIT = 1024 * 1024
CHUNK = 1024 * 1024
SNIFF_BYTES = 8192
# Probes queued or finished ahead of the consumer, per probe thread or process (see probe_all).
AHEAD_PER_THREAD = 64
# Entries handed to a probe process at a time: one round trip for several files, few enough that every process
# stays busy to the end.
PROCESS_CHUNK = 16


class Status(StrEnum):
    IMAGE = "image"
    SKIPPED = "skipped"
    ERROR = "error"


_SPECIAL_TYPES = {
    Kind.DIRECTORY: "inode/directory",
    Kind.SYMLINK: "inode/symlink",
    Kind.FIFO: "inode/fifo",
    Kind.SOCKET: "inode/socket",
    Kind.CHAR_DEVICE: "inode/chardevice",
    Kind.BLOCK_DEVICE: "inode/blockdevice",
    Kind.OTHER: "inode/unknown",
}


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Probe:
    """Everything the scan records about one entry."""

    entry: Entry
    status: Status
    mime: str = ""
    error: str = ""
    note: str = ""
    md5: str = ""
    sha1: str = ""
    sha256: str = ""
    size: int = 0
    info: ImageInfo | None = None
    # The name's extension says another type than the content (see evidence.filetypes.sniff).
    extension_mismatch: bool = False


def describe_link(root: bytes, entry: Entry) -> Probe:
    """A symbolic link is recorded, never followed: where it points, and whether that is inside the source."""
    path = join_path(root, entry.relpath)
    try:
        target = evidence_readlink(path)
    except OSError as exc:
        return Probe(entry, Status.ERROR, mime=_SPECIAL_TYPES[Kind.SYMLINK], error=describe_os_error(exc))
    shown = display_path(target)
    parent = os.path.dirname(path)
    lexical = os.path.normpath(os.path.join(parent, target))
    real_root = os.path.realpath(root)
    if not _inside(lexical, os.path.normpath(root)) and not _inside(lexical, real_root):
        return Probe(entry, Status.SKIPPED, mime=_SPECIAL_TYPES[Kind.SYMLINK],
                     note=f"symbolic link pointing outside the source, not followed: {shown}")  # fmt: skip
    try:
        resolved = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return Probe(entry, Status.SKIPPED, mime=_SPECIAL_TYPES[Kind.SYMLINK],
                         note=f"symbolic link to {shown}; not resolved, the path is too long")  # fmt: skip
        message = "symlink loop" if exc.errno == errno.ELOOP else "broken symbolic link"
        return Probe(entry, Status.ERROR, mime=_SPECIAL_TYPES[Kind.SYMLINK], error=f"{message}: {shown}")
    if not _inside(resolved, real_root):
        return Probe(entry, Status.SKIPPED, mime=_SPECIAL_TYPES[Kind.SYMLINK],
                     note=f"symbolic link pointing outside the source, not followed: {shown}")  # fmt: skip
    return Probe(entry, Status.SKIPPED, mime=_SPECIAL_TYPES[Kind.SYMLINK],
                 note=f"symbolic link to {shown}; the target is scanned at its own path")  # fmt: skip


def _inside(path: bytes, root: bytes) -> bool:
    return path == root or path.startswith(root.rstrip(b"/") + b"/")


class _Hasher:
    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def update(self, data: bytes) -> None:
        # A megabyte at a time through all three: each slice is hashed three times while it is in the CPU cache,
        # instead of three passes over the whole buffer from memory.
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            block = view[start : start + CHUNK]
            self.md5.update(block)
            self.sha1.update(block)
            self.sha256.update(block)

    def digests(self) -> dict[str, str]:
        return {"md5": self.md5.hexdigest(), "sha1": self.sha1.hexdigest(), "sha256": self.sha256.hexdigest()}


def _read_and_hash(fp: BinaryIO, size: int) -> tuple[BinaryIO, bytes, dict[str, str], int]:
    """One read of the whole file. Returns a seekable source for the header, the first bytes, the digests, and
    the number of bytes read."""
    hasher = _Hasher()
    if size <= IN_MEMORY_LIMIT:
        data = fp.read()
        hasher.update(data)
        return BytesIO(data), data[:SNIFF_BYTES], hasher.digests(), len(data)
    head = b""
    total = 0
    while block := fp.read(CHUNK):
        if not head:
            head = block[:SNIFF_BYTES]
        hasher.update(block)
        total += len(block)
    fp.seek(0)
    return fp, head, hasher.digests(), total


def probe(root: bytes, entry: Entry, *, max_pixels: int, full_verify: bool = False) -> Probe:
    """Account for one entry. Never raises for anything the evidence contains."""
    if entry.error:
        return Probe(entry, Status.ERROR, mime=_SPECIAL_TYPES.get(entry.kind, ""), error=entry.error)
    if entry.kind is Kind.SYMLINK:
        return describe_link(root, entry)
    if entry.kind is not Kind.FILE:
        mime = _SPECIAL_TYPES[entry.kind]
        return Probe(entry, Status.SKIPPED, mime=mime, note=f"not a regular file ({entry.kind}), not opened")
    try:
        fp = open_evidence(join_path(root, entry.relpath), expect=entry.stat)
    except EvidenceError as exc:
        return Probe(entry, Status.ERROR, error=str(exc), size=entry.stat.st_size if entry.stat else 0)
    with fp:
        try:
            source, head, digests, size = _read_and_hash(fp, entry.stat.st_size)
        except OSError as exc:
            return Probe(entry, Status.ERROR, error=describe_os_error(exc), size=entry.stat.st_size)
        mime, note, mismatch = sniff(head, entry.relpath)
        if size == 0:
            ext_type = sniff(b"", entry.relpath)
            if os.path.splitext(entry.relpath)[1].lower().decode("ascii", "replace") in EXTENSION_TYPES:
                return Probe(entry, Status.ERROR, mime=ext_type[0], error="zero-byte file", **digests)
            return Probe(entry, Status.SKIPPED, mime="inode/x-empty", note="zero-byte file", **digests)
        if mime not in MIME_FORMATS:
            if mime.startswith("image/"):
                note = note or f"image type not decoded by the scanner ({mime})"
            return Probe(entry, Status.SKIPPED, mime=mime, note=note, size=size, extension_mismatch=mismatch, **digests)
        try:
            # Most evidence is JPEG: its header is read without Pillow where it is regular (same facts, same checks).
            info = (
                jpeg_info(source, size=size, max_pixels=max_pixels)
                if mime == "image/jpeg" and not full_verify
                else None
            )
            if info is None:
                with open_image(source, mime=mime, max_pixels=max_pixels) as img:
                    info = read_info(img, source, head)
                    verify_image(img, source, mime=mime, full=full_verify)
        except EvidenceError as exc:
            return Probe(
                entry,
                Status.ERROR,
                mime=mime,
                error=str(exc),
                note=note,
                size=size,
                extension_mismatch=mismatch,
                **digests,
            )
        except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile input is this file's error, not the job's
            label = format_label(mime)
            return Probe(
                entry,
                Status.ERROR,
                mime=mime,
                error=f"corrupt {label}: {exc}",
                note=note,
                size=size,
                extension_mismatch=mismatch,
                **digests,
            )
    return Probe(
        entry, Status.IMAGE, mime=mime, note=note, size=size, info=info, extension_mismatch=mismatch, **digests
    )


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Digest:
    """A regular file's content read again: its hashes and size, or why it could not be read (`error`). Other
    entries are not opened: no hashes."""

    entry: Entry
    md5: str = ""
    sha1: str = ""
    sha256: str = ""
    size: int = 0
    error: str = ""


def digest(root: bytes, entry: Entry) -> Digest:
    """Read a regular file once and hash it as `probe` does (the same algorithms, the same reads), with nothing
    else: no typing, no header. Never raises for anything the evidence contains."""
    if entry.error:
        return Digest(entry, error=entry.error)
    if entry.kind is not Kind.FILE:
        return Digest(entry)
    try:
        fp = open_evidence(join_path(root, entry.relpath), expect=entry.stat)
    except EvidenceError as exc:
        return Digest(entry, error=str(exc))
    with fp:
        try:
            _source, _head, digests, size = _read_and_hash(fp, entry.stat.st_size)
        except OSError as exc:
            return Digest(entry, error=describe_os_error(exc))
    return Digest(entry, size=size, **digests)


def digest_all(root: bytes, entries: Iterable[Entry], *, threads: int) -> Iterator[Digest]:
    """`digest` every entry, in their order, on `threads` threads, reading ahead of the caller as `probe_all`
    does."""
    if threads <= 1:
        yield from (digest(root, entry) for entry in entries)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="digest") as pool:
        submitted = ((pool.submit(digest, root, entry), entry) for entry in entries)
        yield from _in_order(submitted, ahead=AHEAD_PER_THREAD * threads, collect=lambda done, _: [done.result()])


def probe_all(
    root: bytes, entries: Iterable[Entry], *, threads: int, processes: int = 0, **options: Any
) -> Iterator[Probe]:
    """`probe` every entry, in their order, on `threads` threads, or in `processes` worker processes when that is
    above zero. Up to `AHEAD_PER_THREAD` probes per thread or process are queued or done ahead of the caller, so
    they go on hashing while the caller records a batch (a finished probe holds no file data). Closing the
    iterator early abandons the entries not yet returned (a resumed scan walks them again).

    Threads: reading, hashing and most decoding leave the interpreter lock free, but the rest of a probe (header
    parsing, typing) holds it against the caller's own Python. Processes have a lock each: the caller keeps its
    interpreter to itself, and a decoder that crashes on hostile input takes down a worker, not the scan."""
    if processes > 0:
        yield from _probe_in_processes(root, entries, processes, options)
    elif threads <= 1:
        yield from (probe(root, entry, **options) for entry in entries)
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="probe") as pool:
            submitted = ((pool.submit(probe, root, entry, **options), entry) for entry in entries)
            yield from _in_order(submitted, ahead=AHEAD_PER_THREAD * threads, collect=lambda done, _: [done.result()])


def _in_order(
    submitted: Iterator[tuple[Future, Any]], *, ahead: int, collect: Callable[[Future, Any], list[Any]]
) -> Iterator[Any]:
    """The results (probes, digests) of `submitted` (future, what it was given) in submission order, keeping
    `ahead` futures in flight; `collect(future, given)` turns one into its results. Futures still pending when the
    caller stops early are cancelled."""
    pending: deque[tuple[Future, Any]] = deque()
    try:
        for item in submitted:
            pending.append(item)
            if len(pending) >= ahead:
                yield from collect(*pending.popleft())
        while pending:
            yield from collect(*pending.popleft())
    finally:
        for future, _ in pending:
            future.cancel()


class _ProbeProcesses:
    """Worker processes for `probe`, started on first use and kept for the life of this process (starting them
    costs more than probing a few hundred photos). They are started by a fork server that has imported this module
    (https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods): forking the scanning
    process itself would copy its threads' locks and its database connections.

    A worker that dies (a decoder crash, the out-of-memory killer) breaks the pool: the pool is replaced, and the
    files it held are probed again one at a time, so that only a file that kills its worker again is recorded as
    an error, and the scan goes on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0

    def executor(self, size: int) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._size != size:
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool, self._size = ProcessPoolExecutor(size, mp_context=context), size
            return self._pool

    def discard(self, pool: Executor) -> None:
        """Drop a broken pool (once, however many of its futures report it)."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def submit(
        self, size: int, root: bytes, entries: list[Entry], options: dict[str, Any]
    ) -> tuple[Future[list[Probe]], Executor]:
        """The probes of `entries`, to come, and the pool they were handed to."""
        pool = self.executor(size)
        try:
            return pool.submit(_probe_chunk, root, entries, options), pool
        except BrokenProcessPool:  # a worker died since the last result
            self.discard(pool)
            pool = self.executor(size)
            return pool.submit(_probe_chunk, root, entries, options), pool

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


PROBE_PROCESSES = _ProbeProcesses()
# Before the interpreter tears its modules down: a pool left to the garbage collector then cannot stop cleanly.
atexit.register(PROBE_PROCESSES.shutdown)


def _probe_chunk(root: bytes, entries: list[Entry], options: dict[str, Any]) -> list[Probe]:
    return [probe(root, entry, **options) for entry in entries]


def _probe_in_processes(root: bytes, entries: Iterable[Entry], size: int, options: dict[str, Any]) -> Iterator[Probe]:
    workers = PROBE_PROCESSES

    def submit_all() -> Iterator[tuple[Future[list[Probe]], tuple[list[Entry], Executor]]]:
        it = iter(entries)
        while chunk := list(islice(it, PROCESS_CHUNK)):
            future, pool = workers.submit(size, root, chunk, options)
            yield future, (chunk, pool)

    def collect(future: Future[list[Probe]], given: tuple[list[Entry], Executor]) -> list[Probe]:
        chunk, pool = given
        try:
            return future.result()
        except BrokenProcessPool:
            workers.discard(pool)
            return [alone(entry) for entry in chunk]

    def alone(entry: Entry) -> Probe:
        future, pool = workers.submit(size, root, [entry], options)
        try:
            return future.result()[0]
        except BrokenProcessPool:
            workers.discard(pool)
            return Probe(entry, Status.ERROR, size=entry.stat.st_size if entry.stat else 0,
                         error="the process reading this file died (a decoder crash, or out of memory)")  # fmt: skip

    yield from _in_order(submit_all(), ahead=max(1, AHEAD_PER_THREAD * size // PROCESS_CHUNK), collect=collect)
