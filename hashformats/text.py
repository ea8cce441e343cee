"""The line formats: NSRL legacy (`NSRLFile.txt`), hashdeep, md5deep (and sha1deep, sha256deep, md5sum), CSV with a
header, plain lists and ThreatExchange PDQ lists. Each reads one line at a time (`base.lines`)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from hashformats.base import (
    PDQ,
    Entry,
    FormatError,
    HashingReader,
    Item,
    Malformed,
    Source,
    digest_algorithm,
    lines,
    too_long,
)

# A header cell, lowercased with everything but letters and digits dropped, and the column it names.
_COLUMNS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "category": "category", "pdq": "pdq"}
_COLUMNS |= {"quality": "quality", "pdqquality": "quality", "hash": "hash"}
_MD5DEEP = re.compile(r"([0-9a-fA-F]+)\s+\*?(.+)")


def _cells(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def column_name(cell: str) -> str:
    return _COLUMNS.get(re.sub(r"[^0-9a-z]", "", cell.lower()), "")


def _skippable(text: str) -> bool:
    return not text.strip() or text.lstrip().startswith("#")


def _hashes(number: int, named: dict[str, str], category: str = "") -> Iterator[Item]:
    """An entry for every hash of one row ({algorithm: digest}); a row with none, or a bad one, is malformed."""
    found = False
    for algorithm, value in named.items():
        if not value.strip():
            continue
        checked = digest_algorithm(value, expected=algorithm)
        if isinstance(checked, str):
            yield Malformed(number, f"{algorithm.upper()}: {checked}" if algorithm else checked)
            continue
        found = True
        yield Entry(checked[0], checked[1], category=category)
    if not found and not any(value.strip() for value in named.values()):
        yield Malformed(number, "no hash on the line")


def read_nsrl_legacy(raw: HashingReader, source: Source) -> Iterator[Item]:
    """NSRLFile.txt: a quoted CSV header `"SHA-1","MD5","CRC32","FileName",...`, then one line per file: its SHA-1
    and its MD5 are entries each."""
    header: list[str] | None = None
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
            continue
        if header is None:
            header = [column_name(cell) for cell in _cells(text) or []]
            continue
        cells = _cells(text)
        if cells is None or len(cells) < len(header):
            yield Malformed(number, "fewer fields than the header names")
            continue
        yield from _hashes(
            number, {name: cell for name, cell in zip(header, cells, strict=False) if name in ("md5", "sha1")}
        )


def read_hashdeep(raw: HashingReader, source: Source) -> Iterator[Item]:
    """hashdeep: `%%%% HASHDEEP-1.0`, `%%%% size,md5,sha256,filename` (the columns), `## ` comments, then one CSV
    line per file. Algorithms other than MD5, SHA-1 and SHA-256 (tiger, whirlpool) are not kept."""
    header: list[str] = []
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
            continue
        if text.startswith("%%%%"):
            if number > 1:
                header = [column_name(cell.strip()) for cell in text[4:].split(",")]
            continue
        if _skippable(text):
            continue
        if not header:
            yield Malformed(number, "a line before the column header")
            continue
        cells = _cells(text)
        # The file name is the last column and may hold commas: the hashes are the leading cells.
        if cells is None or len(cells) < len(header):
            yield Malformed(number, "fewer fields than the header names")
            continue
        yield from _hashes(
            number, {n: c for n, c in zip(header, cells, strict=False) if n in ("md5", "sha1", "sha256")}
        )


def read_md5deep(raw: HashingReader, source: Source) -> Iterator[Item]:
    """md5deep, sha1deep, sha256deep and md5sum: `<hash>  <path>`, the algorithm told by the hash's length."""
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
            continue
        if _skippable(text):
            continue
        match = _MD5DEEP.fullmatch(text.strip())
        if match is None:
            yield Malformed(number, "not a hash followed by a path")
            continue
        yield from _hashes(number, {"": match.group(1)})


def read_plain(raw: HashingReader, source: Source) -> Iterator[Item]:
    """One MD5, SHA-1 or SHA-256 per line, told apart by length; blank lines and `#` comments are skipped."""
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
        elif not _skippable(text):
            yield from _hashes(number, {"": text})


def read_csv(raw: HashingReader, source: Source) -> Iterator[Item]:
    """CSV whose header names md5, sha1 and/or sha256 columns (any case, `SHA-1` as `sha1`), and an optional
    category column."""
    header: list[str] | None = None
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
            continue
        if not text.strip():
            continue
        cells = _cells(text)
        if header is None:
            header = [column_name(cell) for cell in cells or []]
            if not {"md5", "sha1", "sha256"} & set(header):
                raise FormatError("the CSV header names no md5, sha1 or sha256 column")
            continue
        if cells is None or len(cells) != len(header):
            yield Malformed(number, f"{len(cells or [])} fields where the header names {len(header)}")
            continue
        row = dict(zip(header, cells, strict=True))
        named = {name: row[name] for name in ("md5", "sha1", "sha256") if name in row}
        yield from _hashes(number, named, category=row.get("category", "").strip()[:32])


def read_pdq(raw: HashingReader, source: Source) -> Iterator[Item]:
    """ThreatExchange PDQ: `hash,quality` lines (a third field, the file's name, is allowed and not kept); the
    hash is 64 hex digits, the quality 0 to 100."""
    for number, text in lines(raw):
        if text is None:
            yield too_long(number)
            continue
        if _skippable(text):
            continue
        cells = [cell.strip() for cell in text.split(",", 2)]
        if len(cells) < 2:
            yield Malformed(number, "not hash,quality")
            continue
        checked = digest_algorithm(cells[0], expected="sha256")
        if isinstance(checked, str):
            yield Malformed(number, "not a PDQ hash (64 hex digits)")
            continue
        if not cells[1].isdigit() or not 0 <= int(cells[1]) <= 100:
            yield Malformed(number, "quality not a whole number from 0 to 100")
            continue
        yield Entry(PDQ, checked[1], quality=int(cells[1]))
