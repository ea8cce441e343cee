"""JPEG segments read without Pillow: the EXIF block and XMP orientation (`jpeg_metadata`), the header facts of a
regular JPEG (`jpeg_info`), and whether its image data is complete (`jpeg_check_end`)."""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

from PIL import Image

from evidence.exifblock import exif_ifd0
from evidence.images import ImageInfo
from evidence.opening import EvidenceError

_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')


class JpegMetadata(NamedTuple):
    exif: bytes | None  # the APP1 "Exif" segments, joined as Pillow joins them
    xmp_orientation: int | None  # tiff:Orientation in the XMP segment, which Pillow uses when the EXIF has none


def jpeg_metadata(fp: BinaryIO) -> JpegMetadata | None:
    """A JPEG's EXIF block and XMP orientation, read from the segments before the image data without opening the
    image: the EXIF stage needs nothing else, and opening a JPEG costs more than reading its EXIF. None when the
    segments cannot be walked: the caller opens the image instead, so a damaged file is reported as Pillow finds
    it."""
    fp.seek(0)
    if fp.read(2) != b"\xff\xd8":
        return None
    data, xmp, complete = None, None, False
    for kind, offset, length in _jpeg_segments(fp):
        if kind in (0xDA, 0xD9):  # start of scan (or end of image): the metadata is behind us
            complete = True
        elif kind == 0xE1:
            fp.seek(offset)
            segment = fp.read(length)
            if len(segment) < length:
                return None
            data, xmp = _app1(segment, data, xmp)
    if not complete:
        return None
    return JpegMetadata(exif=data, xmp_orientation=_xmp_orientation(xmp))


_XMP_EXTENSION_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
_PHOTOSHOP_PREFIX = b"Photoshop 3.0\x00"


def jpeg_xmp_or_iptc(fp: BinaryIO) -> bool | None:
    """Whether a JPEG's segments before its image data hold an XMP packet (APP1) or Photoshop resources (APP13,
    where IPTC lives): a reader of those need not be started for a JPEG without them. None when the segments
    cannot be walked."""
    fp.seek(0)
    if fp.read(2) != b"\xff\xd8":
        return None
    for kind, offset, length in _jpeg_segments(fp):
        if kind in (0xDA, 0xD9):
            return False
        if kind in (0xE1, 0xED):
            fp.seek(offset)
            head = fp.read(min(length, len(_XMP_EXTENSION_PREFIX)))
            if head.startswith((_XMP_PREFIX, _XMP_EXTENSION_PREFIX, _PHOTOSHOP_PREFIX)):
                return True
    return None


def _app1(segment: bytes, exif: bytes | None, xmp: bytes | None) -> tuple[bytes | None, bytes | None]:
    """The EXIF block and XMP packet so far, after one more APP1 segment, by Pillow's rules: "Exif" segments are
    joined (the later ones without their header), the last XMP packet counts."""
    if segment.startswith(b"Exif\x00\x00"):
        return (segment if exif is None else exif + segment[6:]), xmp
    if segment.startswith(_XMP_PREFIX):
        return exif, segment[len(_XMP_PREFIX) :]
    return exif, xmp


def _xmp_orientation(xmp: bytes | None) -> int | None:
    """tiff:Orientation in an XMP packet, as Pillow finds it."""
    match = _XMP_ORIENTATION.search(xmp) if xmp else None
    return int(match[2]) if match else None


def _jpeg_segments(fp: BinaryIO) -> Iterator[tuple[int, int, int]]:
    """A JPEG's marker segments up to its image data, walked from just after the start-of-image marker: (marker,
    offset of the payload, payload length) for each, markers without a payload (restart, a second start of image,
    TEM) with length 0, the last one the start of scan (or an end of image that comes first). Fill bytes are
    passed over. Where the structure breaks off, the walk stops without that last one. The caller may read a
    payload between steps; the walk goes on from the segment's end."""
    position = 2
    while True:
        fp.seek(position)
        marker = fp.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            position += 1
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a payload
            yield kind, position + 2, 0
            position += 2
            continue
        if kind == 0xD9:
            yield kind, position + 2, 0
            return
        length_bytes = fp.read(2)
        if len(length_bytes) < 2:
            return
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            return
        yield kind, position + 4, length - 2
        if kind == 0xDA:
            return
        position += 2 + length


# Markers Pillow's JPEG reader handles before the image data, each with a payload: frame headers (SOF0-3, 5-7,
# 9-11, 13-15), tables and restart intervals (DHT, DAC, DQT, DNL, DRI, EXP), APP0-15 and comments.
_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_JPEG_REGULAR = _SOF_MARKERS | {0xC4, 0xCC, 0xDB, 0xDC, 0xDD, 0xDF, 0xFE, *range(0xE0, 0xF0)}
# Of those, the ones whose payload decides something here (Pillow skips the others without looking inside).
_JPEG_READ = _SOF_MARKERS | {0xDB, 0xE0, 0xE1, 0xE2, 0xED, 0xEE}
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}


def jpeg_info(fp: BinaryIO, *, size: int, max_pixels: int) -> ImageInfo | None:
    """A complete JPEG's header facts, exactly as `open_image` and `read_info` give them, read from its segments
    without Pillow (whose reader costs more than hashing a small photo). Raises EvidenceError for a JPEG whose
    image data is cut off. None for a JPEG that is not regular enough to be read here: one segment marker Pillow
    treats otherwise, a damaged header or table, several frames, a multi-picture (MPO) or Photoshop segment, an
    irregular EXIF block, a size over the pixel limit. The caller then opens it with Pillow, which finds and words
    whatever is wrong as before. `size` is the file's size."""
    fp.seek(0)
    if fp.read(3) != b"\xff\xd8\xff":
        return None
    frame = exif = xmp = dpi = None
    icc: list[bytes] = []
    scan_start = None
    for kind, offset, length in _jpeg_segments(fp):
        if offset + length > size:
            return None
        if kind == 0xDA:
            scan_start = offset + length
            break
        if kind not in _JPEG_REGULAR or (kind in _SOF_MARKERS and frame is not None):
            return None
        if kind not in _JPEG_READ:
            continue
        fp.seek(offset)
        payload = fp.read(length)
        if kind in _SOF_MARKERS:
            frame = payload
        elif kind == 0xDB and not _jpeg_tables_whole(payload):
            return None
        elif kind == 0xE0 and payload.startswith(b"JFIF"):
            if len(payload) < 12:
                return None
            unit, x, y = payload[7], *struct.unpack_from(">HH", payload, 8)
            if unit in (1, 2):
                dpi = (x, y) if unit == 1 else (x * 2.54, y * 2.54)
        elif kind == 0xE1:
            exif, xmp = _app1(payload, exif, xmp)
        elif kind == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
            if frame is not None or len(payload) < 14:
                return None  # Pillow joins the pieces it has met when it meets the frame header
            icc.append(payload)
        elif _jpeg_segment_special(kind, payload):
            return None
    if frame is None or scan_start is None or len(frame) < 6 or frame[0] != 8 or frame[5] not in _JPEG_MODES:
        return None
    height, width = struct.unpack_from(">HH", frame, 1)
    pixels = width * height
    if not pixels or pixels > max_pixels or (Image.MAX_IMAGE_PIXELS and pixels > 2 * Image.MAX_IMAGE_PIXELS):
        return None
    ifd0 = exif_ifd0(exif) if exif is not None else {}  # all Pillow reads of it when it opens a JPEG
    if ifd0 is None:
        return None
    orientation = ifd0.get(0x0112)
    if orientation is None:
        orientation = _xmp_orientation(xmp)
    if dpi is None and exif is not None:
        dpi = _jpeg_exif_dpi(ifd0)
        if dpi is None:
            return None
    jpeg_check_end(fp, scan_start, "JPEG", size)
    dpi_x, dpi_y = (round(float(v), 3) or None for v in dpi) if dpi else (None, None)
    return ImageInfo(
        format="JPEG",
        width=width,
        height=height,
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None,
        mode=_JPEG_MODES[frame[5]],
        bit_depth=8,
        dpi_x=dpi_x,
        dpi_y=dpi_y,
        frames=1,
        icc_profile=bool(icc) and sorted(icc)[0][13] == len(icc) and any(len(p) > 14 for p in icc),
    )


def _jpeg_segment_special(kind: int, payload: bytes) -> bool:
    """Segments Pillow reads in ways not repeated here: a multi-picture index (an MPO), a Photoshop resource block,
    an Adobe segment too short for Pillow."""
    return (
        (kind == 0xE2 and payload.startswith(b"MPF\x00"))
        or (kind == 0xED and payload.startswith(b"Photoshop"))
        or (kind == 0xEE and payload.startswith(b"Adobe") and len(payload) < 7)
    )


def _jpeg_tables_whole(payload: bytes) -> bool:
    """Whether a DQT segment holds whole quantization tables (else Pillow refuses the file)."""
    at = 0
    while at < len(payload):
        at += 1 + (64 if payload[at] < 16 else 128)
    return at == len(payload)


def _jpeg_exif_dpi(ifd0: dict[int, Any]) -> tuple[float, float] | None:
    """The resolution Pillow takes from the EXIF of a JPEG without a JFIF one: 72 when the EXIF does not say; None
    for a resolution that is not a plain number (Pillow has its own ways with those)."""
    if 0x0128 not in ifd0 or 0x011A not in ifd0:
        return 72, 72
    x = ifd0[0x011A]
    if not isinstance(x, float) or math.isnan(x):
        return None
    if ifd0[0x0128] == 3:  # centimetres
        x *= 2.54
    return x, x


def jpeg_scan_start(fp: BinaryIO) -> int | None:
    """Offset just after the first start-of-scan segment."""
    for kind, offset, length in _jpeg_segments(fp):
        if kind == 0xDA:
            return offset + length
    return None


def jpeg_check_end(fp: BinaryIO, scan_start: int | None, label: str, size: int) -> None:
    """Raise EvidenceError unless a JPEG's scan data starts (at `scan_start`) and ends with an end-of-image
    marker."""
    if scan_start is None:
        raise EvidenceError(f"truncated {label}: no image data (start of scan missing)")
    if not _has_marker_after(fp, scan_start, b"\xff\xd9"):
        raise EvidenceError(f"truncated {label}: end-of-image marker missing (file ends at byte {size})")


def _has_marker_after(fp: BinaryIO, offset: int, marker: bytes, chunk: int = 64 * 1024) -> bool:
    """Whether `marker` occurs at or after `offset`. Searched backwards from the end: in a complete file the marker
    lies in the last bytes, so one small read answers; only a damaged file is read all the way back to `offset`."""
    end = fp.seek(0, io.SEEK_END)
    following = b""  # the start of the block after this one: a marker may straddle two blocks
    while end > offset:
        start = max(offset, end - chunk)
        fp.seek(start)
        block = fp.read(end - start) + following
        if block.rfind(marker) != -1:
            return True
        following = block[: len(marker) - 1]
        end = start
    return False
