"""A fast reader for well-formed EXIF blocks, giving exactly what Pillow gives for them.

Pillow's EXIF reader (`Image.Exif` over `TiffImagePlugin.ImageFileDirectory_v2`) builds an object per directory
and per value, and was most of the EXIF stage's time on camera photos. `exif_groups` reads the same directories
(IFD0, Exif, GPS, Interop, IFD1) straight from the block with `struct`, into the values Pillow's `Exif` returns
for them: numbers, tuples of numbers, text, bytes. The one difference is rationals: Pillow's `IFDRational` becomes
the float it converts to (NaN for a zero denominator), which is all the EXIF stage reads of it.

It reads only blocks that need none of Pillow's repairs: on anything Pillow would warn about, skip, or fail on (a
value outside the block, an IFD cut short, a type it does not know, an unusual header), it returns None, and the
caller reads the block with Pillow, whose complaints then become the result's warnings. So on any block the stage
records the same result either way; tests/extractors/test_exif.py holds the two readers to that on random blocks.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from typing import Any

from PIL import ExifTags, TiffTags

Groups = dict[str, dict[int, Any]]

# Pillow's loadable types: type -> (bytes per value, struct code; "" for bytes and text, "r" for rationals).
_TYPES: dict[int, tuple[int, str]] = {
    1: (1, ""),  # BYTE: bytes, as Pillow's load_byte
    2: (1, ""),  # ASCII
    3: (2, "H"),
    4: (4, "L"),
    5: (8, "r"),
    6: (1, "b"),
    7: (1, ""),  # UNDEFINED
    8: (2, "h"),
    9: (4, "l"),
    10: (8, "r"),
    11: (4, "f"),
    12: (8, "d"),
    13: (4, "L"),  # IFD
    16: (8, "Q"),  # LONG8
}
_SIGNED_RATIONAL = 10
_ASCII = 2
_EXIF_HEADER = re.compile(rb"^(Exif\x00\x00){1,2}")  # as Pillow strips it
_HEADERS = {b"II*\x00": "<", b"MM\x00*": ">"}
# Per byte order: an entry (tag, type, count), a count or offset, and single values of each numeric code.
_ENTRY = {e: struct.Struct(e + "HHL") for e in "<>"}
_SHORT = {e: struct.Struct(e + "H") for e in "<>"}
_LONG = {e: struct.Struct(e + "L") for e in "<>"}
_ONE = {(e, code): struct.Struct(e + code) for e in "<>" for code in "HLbhlfdQ"}

_POINTER_GROUPS = (
    ("Exif", int(ExifTags.IFD.Exif)),
    ("GPS", int(ExifTags.IFD.GPSInfo)),
)
_INTEROP = int(ExifTags.IFD.Interop)
# IFD0's pointers to the other groups: left out of IFD0 itself, as the EXIF stage has always shown it.
POINTERS = frozenset((*(tag for _, tag in _POINTER_GROUPS), _INTEROP))


class _Irregular(Exception):
    """The block needs Pillow's handling."""


@lru_cache(maxsize=4096)
def _tag_rules(tag: int, group: int | None) -> tuple[int | None, dict[str, int]]:
    """What Pillow's `_setitem` looks at: the tag's declared number of values, and its text enumeration."""
    info = TiffTags.lookup(tag, group)
    return info.length, info.enum


def _ifd(data: bytes, offset: int, endian: str, group: int | None) -> tuple[dict[int, Any], int]:
    """The tags of the directory at `offset` as Pillow's `Exif` returns them, and the offset of the next one."""
    end = len(data)
    if offset + 2 > end:
        raise _Irregular
    (count,) = _SHORT[endian].unpack_from(data, offset)
    entries = offset + 2
    if entries + 12 * count + 4 > end:
        raise _Irregular
    entry, long = _ENTRY[endian].unpack_from, _LONG[endian].unpack_from
    tags: dict[int, Any] = {}
    out_of_line = 0
    for at in range(entries, entries + 12 * count, 12):
        tag, kind, number = entry(data, at)
        if tag in tags:
            continue  # the first one counts, as in Pillow
        layout = _TYPES.get(kind)
        if layout is None:
            continue  # Pillow skips types it does not know
        unit, code = layout
        size = unit * number
        if not size:
            continue  # nothing to read: Pillow skips it too
        if size > 4:
            (start,) = long(data, at + 8)
            out_of_line += size
            if out_of_line > end or start + size > end:
                raise _Irregular
        else:
            start = at + 8
        length, enum = _tag_rules(tag, group)
        if not code:
            raw = data[start : start + size]
            if kind == _ASCII:
                text = (raw[:-1] if raw.endswith(b"\x00") else raw).decode("latin-1", "replace")
                tags[tag] = enum.get(text, text) if enum else text
            else:
                tags[tag] = raw
        elif length == 1 and number > 1:
            raise _Irregular  # Pillow keeps the first value with a warning (or, for some tags, none)
        elif code == "r":
            parts = struct.unpack_from(f"{endian}{2 * number}{'l' if kind == _SIGNED_RATIONAL else 'L'}", data, start)
            values = tuple(n / d if d else float("nan") for n, d in zip(parts[::2], parts[1::2], strict=True))
            tags[tag] = values[0] if number == 1 else values
        elif number == 1:
            (tags[tag],) = _ONE[endian, code].unpack_from(data, start)
        else:
            tags[tag] = struct.unpack_from(f"{endian}{number}{code}", data, start)
    (following,) = long(data, entries + 12 * count)
    return tags, following


def _pointer(value: Any) -> int:
    if not isinstance(value, int) or value < 0:
        raise _Irregular  # Pillow would give up on the group, or fail
    return value


def _first_ifd(block: bytes) -> tuple[bytes, str, dict[int, Any], int]:
    """The block without its "Exif" header, its byte order, IFD0 and the offset of IFD1 (0: none)."""
    data = _EXIF_HEADER.sub(b"", block, count=1)
    endian = _HEADERS.get(data[:4])
    if endian is None or len(data) < 8:
        raise _Irregular
    ifd0, following = _ifd(data, _LONG[endian].unpack_from(data, 4)[0], endian, None)
    return data, endian, ifd0, following


def exif_ifd0(block: bytes) -> dict[int, Any] | None:
    """IFD0 of the block, pointers included, as Pillow's `Exif` gives it when it has read the block (the other
    groups are read only when asked for); None when IFD0 is not regular enough to be read here."""
    try:
        return _first_ifd(block)[2]
    except _Irregular:
        return None


def exif_groups(block: bytes) -> Groups | None:
    """The EXIF block's groups (IFD0 without the pointers to the others; Exif, GPS, Interop, IFD1), each tag as
    Pillow's `Exif` gives it (rationals as floats); None when the block is not regular enough to be read here."""
    try:
        data, endian, ifd0, following = _first_ifd(block)
        groups: Groups = {"IFD0": {k: v for k, v in ifd0.items() if k not in POINTERS}}
        for name, tag in _POINTER_GROUPS:
            if tag in ifd0:
                groups[name] = _ifd(data, _pointer(ifd0[tag]), endian, tag)[0]
        if _INTEROP in groups.get("Exif", {}):
            groups["Interop"] = _ifd(data, _pointer(groups["Exif"][_INTEROP]), endian, _INTEROP)[0]
        if following:
            groups["IFD1"] = _ifd(data, following, endian, None)[0]
    except _Irregular:
        return None
    return groups
