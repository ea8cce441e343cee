"""Writing records (one mapping each) as JSON lines or CSV: what the export commands print or save."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("jsonl", "csv")
# What a spreadsheet takes for the start of a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, spreadsheet: bool) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if spreadsheet and isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def records_write(
    out: TextIO, records: Iterable[dict[str, Any]], *, fmt: str, fields: Sequence[str], spreadsheet: bool = False
) -> int:
    """Write `records` to `out` in `fmt`, CSV with a header of `fields` (a record with another field is an error;
    a nested value is written as JSON text). With `spreadsheet`, a CSV cell that a spreadsheet would run as a
    formula (a file name can be "=HYPERLINK(...)") starts with an apostrophe: for files a browser hands to a
    spreadsheet, not for the exact exports of the command line. Returns how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="raise")
        writer.writeheader()
        for record in records:
            writer.writerow({key: _cell(value, spreadsheet) for key, value in record.items()})
            count += 1
    else:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def records_save(
    output: str, records: Iterable[dict[str, Any]], *, fmt: str, fields: Sequence[str], stdout: TextIO
) -> int:
    """`records_write` to the file named `output` (made anew, UTF-8), or to `stdout` where `output` is "-"."""
    if output == "-":
        return records_write(stdout, records, fmt=fmt, fields=fields)
    with open(output, "w", encoding="utf-8", newline="") as out:
        return records_write(out, records, fmt=fmt, fields=fields)
