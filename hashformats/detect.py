"""Which format a file is, from its first bytes, and reading it as that format."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hashformats.base import FormatError, HashingReader, Item, Source
from hashformats.nsrl import read_nsrl_rds
from hashformats.text import column_name, read_csv, read_hashdeep, read_md5deep, read_nsrl_legacy, read_pdq, read_plain
from hashformats.vics import read_vics

# format -> reader of the open file. NSRL RDS v3 is read by path (SQLite).
_TEXT_READERS: dict[str, Callable[[HashingReader, Source], Iterator[Item]]] = {
    "nsrl-legacy": read_nsrl_legacy,
    "vics": read_vics,
    "caid": read_vics,
    "hashdeep": read_hashdeep,
    "md5deep": read_md5deep,
    "csv": read_csv,
    "plain": read_plain,
    "pdq": read_pdq,
}
FORMATS = ("nsrl-rds", *_TEXT_READERS)
_SNIFF = 64 * 1024
_SQLITE = b"SQLite format 3\x00"
_PDQ = re.compile(r"[0-9a-fA-F]{64}\s*,\s*\d{1,3}(,.*)?")
_MD5DEEP = re.compile(r"[0-9a-fA-F]{32,64}\s+\S.*")
_PLAIN = re.compile(r"[0-9a-fA-F]+")


def detect(head: bytes) -> str | None:
    """The format of a file beginning with `head` (its first 64 KiB or all of it), None when it is none of them."""
    if head.startswith(_SQLITE):
        return "nsrl-rds"
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        if "odata" not in stripped[:4096] and '"Media"' not in stripped and '"value"' not in stripped:
            return None
        return "caid" if "caid" in stripped[:4096].lower() else "vics"
    if text.startswith("%%%% HASHDEEP"):
        return "hashdeep"
    lines = [line.strip() for line in text.splitlines()[:50] if line.strip() and not line.startswith("#")]
    if not lines:
        return None
    first = lines[0]
    header = {column_name(cell.strip().strip('"')) for cell in first.split(",")}
    if first.startswith('"SHA-1"') and "md5" in header and "CRC32" in first.upper():
        return "nsrl-legacy"
    if {"md5", "sha1", "sha256"} & header:
        return "csv"
    for line in lines:
        if _PDQ.fullmatch(line):
            return "pdq"
        if _MD5DEEP.fullmatch(line):
            return "md5deep"
        if _PLAIN.fullmatch(line):
            return "plain"
    return None


@dataclass
class Reading:
    """A file being read: its format, what it says of itself (filled as it is read) and its items, read once."""

    format: str
    source: Source
    items: Iterator[Item]
    _hashing: HashingReader | None
    _path: Path

    def position(self) -> int | None:
        """Bytes of the file read so far (None for a database, read by rows)."""
        return self._hashing.bytes_read if self._hashing is not None else None

    def sha256(self) -> str:
        """The whole file's SHA-256 (for a text format, taken as it was read: call once the items are read)."""
        if self._hashing is not None:
            return self._hashing.finish()
        with self._path.open("rb") as raw:
            return HashingReader(raw).finish()


@contextmanager
def read(path: Path, format: str | None = None) -> Iterator[Reading]:
    """Read the file at `path` as `format` (default: as detected). Raises FormatError for a file of no format
    known, ValueError for an unknown format name."""
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}: one of {', '.join(FORMATS)}")
    with path.open("rb") as raw:
        hashing = HashingReader(raw)
        format = format or detect(hashing.peek(_SNIFF))
        if format is None:
            raise FormatError("not a hash list of any format known (NSRL, VICS, CAID, hashdeep, CSV, plain, PDQ)")
        source = Source()
        if format == "nsrl-rds":
            yield Reading(format, source, read_nsrl_rds(path, source), None, path)
        else:
            yield Reading(format, source, _TEXT_READERS[format](hashing, source), hashing, path)
