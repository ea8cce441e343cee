"""Hostile image files, built by hand: cheap decompression bombs, EXIF blocks that say anything (wrong types,
impossible counts, loops), and JPEGs that carry them. Plain functions, so that the extractor tests and the job tests
put the same files in their evidence trees."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

from jobs.samples import picture

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"

# EXIF field types (TIFF 6.0): byte, ascii, short, long, rational, undefined, slong, srational.
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SLONG, SRATIONAL = 1, 2, 3, 4, 5, 7, 9, 10
_TYPE_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, SLONG: 4, SRATIONAL: 8}
EXIF_POINTER, GPS_POINTER = 0x8769, 0x8825

# One IFD entry: (tag, type, count, value). A bytes value is laid out as the format says (inline when it fits in
# four bytes, else after the IFDs with its offset filled in); an int value is written as the offset field, as is,
# so an entry can point anywhere and claim any count.
IfdEntry = tuple[int, int, int, bytes | int]


def _ifd(entries: Sequence[IfdEntry], start: int, next_ifd: int) -> tuple[bytes, bytes]:
    """One IFD placed at `start`, and the data area that follows it."""
    data_at = start + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, count, value in entries:
        if isinstance(value, int):
            field = struct.pack("<I", value)
        elif len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack("<I", data_at + len(data))
            data += value + b"\0" * (len(value) % 2)
        table += struct.pack("<HHI", tag, kind, count) + field
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd), data


def exif_block(
    ifd0: Sequence[IfdEntry] = (),
    *,
    exif: Sequence[IfdEntry] | None = None,
    gps: Sequence[IfdEntry] | None = None,
    next_ifd: int = 0,
) -> bytes:
    """A little-endian EXIF block ("Exif\\0\\0" + TIFF header + IFD0, then the Exif and GPS IFDs when given), written
    by hand so that it can hold what no camera library would write: wrong types, impossible counts, loops."""
    subs = [(tag, sub) for tag, sub in ((EXIF_POINTER, exif), (GPS_POINTER, gps)) if sub is not None]
    entries = list(ifd0) + [(tag, LONG, 1, 0) for tag, _ in subs]
    body, data = _ifd(entries, 8, next_ifd)
    tail = b""
    for i, (tag, sub) in enumerate(subs):
        offset = 8 + len(body) + len(data) + len(tail)
        entries[len(ifd0) + i] = (tag, LONG, 1, offset)
        sub_body, sub_data = _ifd(sub, offset, 0)
        tail += sub_body + sub_data
    body, data = _ifd(entries, 8, next_ifd)  # the pointers are known now; the layout is the same
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + body + data + tail


def ascii_value(text: bytes) -> tuple[int, int, int, bytes]:
    return ASCII, len(text) + 1, text + b"\0"


def rationals(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<II", n, d) for n, d in pairs)


def jpeg_bytes(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    picture(width, height, seed).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """A JPEG with an APP1 segment (an EXIF block) inserted right after its start-of-image marker."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A few dozen bytes of PNG whose header claims width x height RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A GIF whose screen and single frame claim width x height pixels, with one byte of image data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b"\x3b"


def bmp_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A BMP header claiming width x height 24-bit pixels, and none of them."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def jpeg_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to claim width x height."""
    data = bytearray(jpeg_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def hostile_exif_blocks() -> dict[str, bytes]:
    """EXIF blocks as broken or malicious evidence holds them. Each must leave the extractor standing."""
    make = (0x010F, *ascii_value(b"Canon"))
    lat = [(0x0001, ASCII, 2, b"N\0"), (0x0002, RATIONAL, 3, rationals((1, 0), (2, 0), (3, 0)))]
    return {
        # IFD0 names itself as its own Exif IFD and as the next IFD: a parser that follows pointers loops forever.
        "ifd-loop": exif_block([make, (EXIF_POINTER, LONG, 1, 8)], next_ifd=8),
        "gps-points-at-itself": exif_block([make], gps=[(GPS_POINTER, LONG, 1, 8)]),
        "tag-past-the-end": exif_block([(0x010F, ASCII, 100, 4000)]),
        "huge-count": exif_block([(0x0110, LONG, 0xFFFFFFFF, 16)]),
        "zero-denominators": exif_block([make], gps=lat),
        "latitude-out-of-range": exif_block(
            [make], gps=[(0x0001, ASCII, 2, b"N\0"), (0x0002, RATIONAL, 3, rationals((200, 1), (0, 1), (0, 1)))]
        ),
        "wrong-types": exif_block(
            [(0x010F, LONG, 1, b"\x01\x02\x03\x04"), (0x0112, ASCII, 4, b"six\0")],
            exif=[(0x9003, RATIONAL, 1, rationals((1, 1)))],
            gps=[(0x0001, SHORT, 1, b"\x53\x00"), (0x0002, ASCII, 5, b"12.5\0")],
        ),
        "non-utf8-text": exif_block([(0x010F, ASCII, 8, b"\xff\xfe\x80Can\x00\x00"), (0x0110, *ascii_value(b"\x00"))]),
        "bad-orientation": exif_block([make, (0x0112, SHORT, 1, struct.pack("<H", 9))]),
        "impossible-date": exif_block([make], exif=[(0x9003, *ascii_value(b"2023:13:45 99:99:99"))]),
        "unknown-type": exif_block([(0x010F, 99, 4, b"abcd"), make]),
        "truncated-header": b"Exif\0\0II*\0",
        "not-tiff": b"Exif\0\0" + bytes(range(256)) * 4,
    }
