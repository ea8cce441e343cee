"""What every reader yields, and the pieces they share: digest validation, bounded line reading, hashing the source
as it is read."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

# Algorithm names, as entries carry them, by the length of their hex digest.
ALGORITHMS = {32: "md5", 40: "sha1", 64: "sha256"}
# A PDQ hash is 256 bits, written as 64 hex digits like a SHA-256: a PDQ list says which it is.
PDQ = "pdq"
_HEX = re.compile(r"[0-9a-fA-F]+")
# The longest line a reader takes (bytes); a longer one is reported malformed and skipped without being kept.
MAX_LINE = 64 * 1024


class FormatError(ValueError):
    """The file is not of the format at all (not one malformed line of it)."""


@dataclass(frozen=True)
class Entry:
    algorithm: str  # "md5", "sha1", "sha256" or "pdq"
    digest: str  # lowercase hex
    category: str = ""
    quality: int | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Malformed:
    line: int  # 1-based; for a SQLite database, the row's position
    reason: str


Item = Entry | Malformed


@dataclass
class Source:
    """What a reader learned about the whole file: the version it names (NSRL's release), when it names one."""

    version: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


def digest_algorithm(value: str, *, expected: str | None = None) -> tuple[str, str] | str:
    """(algorithm, lowercase digest) for a hex digest told apart by its length (or of the `expected` algorithm);
    else the reason it is not one."""
    value = value.strip()
    if not value:
        return "empty hash"
    if not _HEX.fullmatch(value):
        return "not a hexadecimal hash"
    algorithm = ALGORITHMS.get(len(value))
    if algorithm is None:
        return f"a hash of {len(value)} hex digits (not MD5, SHA-1 or SHA-256)"
    if expected and expected != algorithm:
        return f"not a {expected.upper()} hash ({len(value)} hex digits)"
    return algorithm, value.lower()


class HashingReader:
    """A binary file read through, its SHA-256 taken over every byte read. `finish` reads what is left (a reader
    may stop before the end) and gives the hex digest of the whole file."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._hash.update(data)
        self.bytes_read += len(data)
        return data

    def peek(self, size: int) -> bytes:
        """The first `size` bytes, before anything is read (the reader is then at the start)."""
        position = self._raw.tell()
        data = self._raw.read(size)
        self._raw.seek(position)
        return data

    def finish(self) -> str:
        while self.read(1 << 20):
            pass
        return self._hash.hexdigest()


def lines(raw: HashingReader) -> Iterator[tuple[int, str | None]]:
    """(line number, text without its line end) for every line; text None for a line longer than MAX_LINE (its
    bytes read and dropped) or one that is not UTF-8. A byte order mark at the start is skipped."""
    number = 0
    while True:
        line = raw.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            while line and not line.endswith(b"\n"):
                line = raw.readline(1 << 20)
            yield number, None
            continue
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            yield number, line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, "\ufffd"  # never a hash: reported as such by the reader


def too_long(number: int) -> Malformed:
    return Malformed(number, f"line longer than {MAX_LINE} bytes")
