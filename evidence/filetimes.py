"""File times an evidence file system records beyond `lstat`'s: the birth (creation) time.

It comes from statx(2) (Linux 4.11+, glibc 2.28+): Python 3.11's os has no statx, and lstat has no birth time on
Linux. One more system call per entry; None wherever statx or the file system does not give one.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

from evidence.opening import reach_evidence

_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BTIME = 0x800
_STATX_SIZE = 256
_STATX_BTIME_OFFSET = 80  # struct statx: stx_mask at 0, stx_btime (s64 tv_sec, u32 tv_nsec) at 80
_statx = getattr(ctypes.CDLL(None, use_errno=True), "statx", None) if sys.platform == "linux" else None


def evidence_birth_time(path: bytes | str) -> int | None:
    """The entry's birth (creation) time in nanoseconds since the epoch, not following a symbolic link; None when
    this system or its file system does not record one, or it cannot be read. Never raises: a birth time that
    cannot be read (a folder of a long path gone or refused on the way to it) is unknown, not an error."""
    if _statx is None:
        return None
    buffer = ctypes.create_string_buffer(_STATX_SIZE)
    try:
        with reach_evidence(path) as (folder, name):
            failed = _statx(
                _AT_FDCWD if folder is None else folder, os.fsencode(name), _AT_SYMLINK_NOFOLLOW, _STATX_BTIME, buffer
            )
    except OSError:
        return None
    if failed:
        return None
    (mask,) = struct.unpack_from("=I", buffer, 0)
    if not mask & _STATX_BTIME:
        return None
    seconds, nanoseconds = struct.unpack_from("=qI", buffer, _STATX_BTIME_OFFSET)
    # Some file systems (overlayfs over one without birth times) set the bit and leave the time zero.
    return seconds * 1_000_000_000 + nanoseconds or None
