"""Walking a source: every entry in it, in a fixed order, without following a symbolic link.

`walk` lists a source depth-first in a fixed order (names sorted bytewise), `lstat`-ing every entry and never
following a symbolic link, so a link can neither lead out of the source nor into a loop. Each entry it yields is
then accounted for by `evidence.probe`.

Paths are handled as bytes from end to end: evidence file names need not be valid UTF-8.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from evidence.filetimes import evidence_birth_time
from evidence.opening import describe_os_error, evidence_lstat, open_evidence_folder
from evidence.pickling import pickled_by_position


class Kind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    FIFO = "fifo"
    SOCKET = "socket"
    CHAR_DEVICE = "char-device"
    BLOCK_DEVICE = "block-device"
    OTHER = "other"


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Entry:
    """One entry found under the source. Directories appear only when they could not be listed."""

    relpath: bytes
    kind: Kind
    stat: os.stat_result | None = None
    error: str = ""
    birth_ns: int | None = None  # when the file system records a birth time (evidence_birth_time)


def _kind(mode: int) -> Kind:
    for test, kind in (
        (stat.S_ISREG, Kind.FILE),
        (stat.S_ISDIR, Kind.DIRECTORY),
        (stat.S_ISLNK, Kind.SYMLINK),
        (stat.S_ISFIFO, Kind.FIFO),
        (stat.S_ISSOCK, Kind.SOCKET),
        (stat.S_ISCHR, Kind.CHAR_DEVICE),
        (stat.S_ISBLK, Kind.BLOCK_DEVICE),
    ):
        if test(mode):
            return kind
    return Kind.OTHER


def join_path(parent: bytes, name: bytes) -> bytes:
    """`name` under `parent`; `name` alone under the empty relpath (the source itself)."""
    return parent + b"/" + name if parent else name


def _listing(path: bytes) -> list[bytes]:
    fd = open_evidence_folder(path)
    try:
        with os.scandir(fd) as it:
            return sorted(os.fsencode(e.name) for e in it)  # a descriptor lists str names
    finally:
        os.close(fd)


def walk(root: bytes, *, resume_after: bytes | None = None) -> Iterator[Entry]:
    """Yield every non-directory entry under `root` (and every folder that could not be listed), depth-first with
    names sorted bytewise: the order of their path components, so the same tree always gives the same sequence.

    With `resume_after` (a relpath yielded earlier), entries up to and including it are not yielded and folders
    wholly before it are not even listed: a restarted scan picks up where its last committed batch ended.
    """
    resume = tuple(resume_after.split(b"/")) if resume_after else None
    root_stat = os.stat(root)
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    try:
        top = _listing(root)
    except OSError as exc:
        yield Entry(b".", Kind.DIRECTORY, error=f"cannot list folder: {describe_os_error(exc)}")
        return
    stack: list[tuple[bytes, Iterator[bytes]]] = [(b"", iter(top))]
    while stack:
        rel, children = stack[-1]
        name = next(children, None)
        if name is None:
            stack.pop()
            continue
        relpath = join_path(rel, name)
        parts = tuple(relpath.split(b"/"))
        if resume is not None and parts <= resume and resume[: len(parts)] != parts:
            continue  # this entry, and everything under it, came before the resume point
        try:
            st = evidence_lstat(join_path(root, relpath))
        except OSError as exc:
            yield Entry(relpath, Kind.OTHER, error=f"cannot stat: {describe_os_error(exc)}")
            continue
        kind = _kind(st.st_mode)
        if kind is not Kind.DIRECTORY:
            if resume is None or parts > resume:
                yield Entry(relpath, kind, st, birth_ns=evidence_birth_time(join_path(root, relpath)))
            continue
        if (st.st_dev, st.st_ino) in visited:
            yield Entry(relpath, kind, st, error="folder loop: this folder was already scanned at another path")
            continue
        visited.add((st.st_dev, st.st_ino))
        try:
            listing = _listing(join_path(root, relpath))
        except OSError as exc:
            yield Entry(relpath, kind, st, error=f"cannot list folder: {describe_os_error(exc)}")
            continue
        stack.append((relpath, iter(listing)))
