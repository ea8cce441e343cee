"""Opening evidence read-only: never through a symbolic link, never blocking on a FIFO, without changing an access
time, and reaching paths longer than the kernel accepts one folder at a time.

Everything that opens an evidence file or lists an evidence folder goes through `open_evidence` and
`open_evidence_folder`, so that the read-only rules hold in one place.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

_O_NOATIME = getattr(os, "O_NOATIME", 0)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


class EvidenceError(Exception):
    """A per-file problem, with a message meant for the examiner."""


def describe_os_error(exc: OSError) -> str:
    """Plain words for the errors an evidence tree produces."""
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ELOOP:
        return "symlink loop"
    if code == errno.ENOENT:
        return "file vanished during the scan"
    if code == errno.ENAMETOOLONG:
        return "path too long for the operating system"
    if code == errno.EIO:
        return "input/output error (damaged medium?)"
    return f"cannot read: {exc.strerror or exc}"


# Paths this long are refused by the kernel (ENAMETOOLONG); evidence trees can still hold them.
_PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
_STEP_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


@contextmanager
def reach_evidence(path: bytes | str) -> Iterator[tuple[int | None, bytes | str]]:
    """(dir_fd, name) that reach `path` for the *at() system calls. A path the kernel would refuse as too long is
    reached one folder at a time, each opened without following a symbolic link."""
    raw = os.fsencode(path)
    if len(raw) < _PATH_MAX:
        yield None, path
        return
    parent, _, name = raw.rpartition(b"/")
    fd = os.open(b"/" if raw.startswith(b"/") else b".", _STEP_FLAGS | os.O_CLOEXEC)
    try:
        for part in parent.split(b"/"):
            if part:
                step = os.open(part, _STEP_FLAGS | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = step
        yield fd, name
    finally:
        os.close(fd)


def evidence_lstat(path: bytes | str) -> os.stat_result:
    with reach_evidence(path) as (folder, name):
        return os.stat(name, dir_fd=folder, follow_symlinks=False)


def evidence_readlink(path: bytes | str) -> bytes:
    with reach_evidence(path) as (folder, name):
        return os.readlink(os.fsencode(name), dir_fd=folder)


def _open_noatime(path: bytes | str, flags: int) -> int:
    with reach_evidence(path) as (folder, name):
        try:
            return os.open(name, flags | _O_NOATIME, dir_fd=folder)
        except PermissionError as exc:
            if exc.errno != errno.EPERM or not _O_NOATIME:
                raise
        # O_NOATIME is refused for files we do not own; the volume is expected to be mounted read-only then.
        return os.open(name, flags, dir_fd=folder)


def open_evidence_folder(path: bytes | str) -> int:
    """Open an evidence folder for listing (a descriptor for `os.scandir`; the caller closes it). Listing a folder
    updates its access time just as reading a file does, so it is opened with O_NOATIME too. Raises OSError."""
    return _open_noatime(path, _FOLDER_FLAGS)


def open_evidence(path: bytes | str, expect: os.stat_result | None = None) -> BinaryIO:
    """Open an evidence file read-only without changing its access time, never through a symbolic link and never
    blocking on a FIFO. With `expect`, refuse a file that is no longer the one that was lstat'ed (swapped)."""
    try:
        fd = _open_noatime(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link where the walk saw a file
            raise EvidenceError("replaced by a symbolic link since it was listed; not followed") from exc
        raise EvidenceError(describe_os_error(exc)) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise EvidenceError("not a regular file")
        if expect is not None and (st.st_ino, st.st_dev) != (expect.st_ino, expect.st_dev):
            raise EvidenceError("file was replaced during the scan")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")
