"""Writing records (one mapping each) as JSON lines or CSV: what the export commands print or save."""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("jsonl", "csv")
# What a spreadsheet takes for the start of a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters outside printable ASCII: in a JSON line, each that str.isprintable() refuses (a bidi override, a
# control) is written as its JSON escape, so a line shown in a terminal cannot reorder or hide text.
_NON_ASCII = re.compile(r"[^\x20-\x7e]")


def _spreadsheet_safe(value: Any) -> Any:
    """`value` as a spreadsheet shows it and never runs it: a text that would start a formula (a file name can be
    "=HYPERLINK(...)") starts with an apostrophe. Any other value is returned as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cell(value: Any, raw: bool) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value)
    return value if raw else _spreadsheet_safe(value)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    return char if char.isprintable() else json.dumps(char)[1:-1]


def records_write(
    out: TextIO, records: Iterable[dict[str, Any]], *, fmt: str, fields: Sequence[str], raw: bool = False
) -> int:
    """Write `records` to `out` in `fmt`, CSV with a header of `fields` (a record with another field is an error;
    a nested value is written as JSON text). A CSV cell that a spreadsheet would run as a formula is written
    spreadsheet-safe, unless `raw` asks for the values exactly (for programs, never for a spreadsheet). JSON lines
    hold the values exactly; a character that is not printable is written as its JSON escape (the same value).
    Returns how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="raise")
        writer.writeheader()
        for record in records:
            writer.writerow({key: _cell(value, raw) for key, value in record.items()})
            count += 1
    else:
        for record in records:
            out.write(_NON_ASCII.sub(_json_escape, json.dumps(record, ensure_ascii=False)) + "\n")
            count += 1
    return count


def records_arguments_add(parser: argparse.ArgumentParser, *, other_formats: tuple[str, ...] = ()) -> None:
    """The options of a command that saves records: `--format`, `-o/--output` and `--raw` (see records_save).
    `other_formats`: further --format choices the command writes itself."""
    parser.add_argument("--format", choices=(*FORMATS, *other_formats), default="jsonl")
    parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="CSV: every value exactly as recorded, formulas included (for programs; by default a value a "
        "spreadsheet would run as a formula starts with an apostrophe)",
    )


def records_save(
    output: str,
    records: Iterable[dict[str, Any]],
    *,
    fmt: str,
    fields: Sequence[str],
    stdout: TextIO,
    raw: bool = False,
) -> int:
    """`records_write` to the file named `output` (made anew, UTF-8), or to `stdout` where `output` is "-"."""
    if output == "-":
        return records_write(stdout, records, fmt=fmt, fields=fields, raw=raw)
    with open(output, "w", encoding="utf-8", newline="") as out:
        return records_write(out, records, fmt=fmt, fields=fields, raw=raw)
