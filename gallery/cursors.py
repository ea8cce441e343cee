"""Gallery page cursors: the key of the last row shown, as an opaque URL-safe string, and the check that a cursor
(or a filter value) holds only what the database can compare with."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

# The range of the database's integer keys and counts (PostgreSQL bigint).
_INT_RANGE = range(-(2**63), 2**63)


class CursorError(ValueError):
    """A cursor that this code did not write."""


def storable(text: str) -> bool:
    """Whether the database can hold (and so compare with) `text`: valid UTF-8 without NUL."""
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return "\x00" not in text


# A cursor's first value: which way the sort it was written for runs.
_DIRECTIONS = {False: "+", True: "-"}


def cursor_encode(values: Sequence[Any], *, descending: bool = False) -> str:
    payload = [_DIRECTIONS[descending], *values]
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def cursor_decode(cursor: str, sort: str, *, descending: bool = False) -> list[Any]:
    """The key a cursor of `sort`, run the way `descending` says, holds. CursorError for anything cursor_encode did
    not write for that sort and direction: not base64 or JSON, nested too deep for the parser, of another shape or
    direction, or with values the database cannot compare (text with NUL or a lone surrogate, an integer out of
    range)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise CursorError("bad cursor") from exc
    if not isinstance(values, list) or not values or values[0] != _DIRECTIONS[descending]:
        raise CursorError("bad cursor")
    values = values[1:]
    shapes = {"path": (str, int), "size": (int, int), "taken": (str, str, int)}
    if len(values) != len(shapes[sort]):
        raise CursorError("bad cursor")
    if not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, shapes[sort], strict=True)):
        raise CursorError("bad cursor")
    if not all(storable(v) if isinstance(v, str) else v in _INT_RANGE for v in values):
        raise CursorError("bad cursor")
    return values
