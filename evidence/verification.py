"""Whether an evidence image's data is complete: its container checked without decoding (or, on request, every
pixel of its first frame decoded)."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from PIL import Image

from evidence.images import MIME_FORMATS, format_label, pillow_message
from evidence.jpeg import jpeg_check_end, jpeg_scan_start
from evidence.opening import EvidenceError


def _gif_trailer_missing(fp: BinaryIO) -> bool:
    """Walk a GIF's blocks (all length-prefixed) up to its trailer; True if the data ends first."""
    fp.seek(10)
    flags = fp.read(3)[:1]
    if not flags:
        return True
    if flags[0] & 0x80:  # global colour table
        fp.seek(3 * 2 ** ((flags[0] & 7) + 1), io.SEEK_CUR)
    while True:
        kind = fp.read(1)
        if kind == b";":
            return False
        if kind == b"!":
            fp.seek(1, io.SEEK_CUR)  # extension label
        elif kind == b",":
            descriptor = fp.read(9)
            if len(descriptor) < 9:
                return True
            if descriptor[8] & 0x80:  # local colour table
                fp.seek(3 * 2 ** ((descriptor[8] & 7) + 1), io.SEEK_CUR)
            fp.seek(1, io.SEEK_CUR)  # LZW minimum code size
        else:
            return True
        while True:  # data sub-blocks up to the empty one
            length = fp.read(1)
            if not length:
                return True
            if length == b"\0":
                break
            fp.seek(length[0], io.SEEK_CUR)


def _bmp_needs(fp: BinaryIO) -> int | None:
    """The file size a BMP's header promises, when it says."""
    fp.seek(0)
    header = fp.read(54)
    if len(header) < 34:
        return None
    (offset,) = struct.unpack_from("<I", header, 10)
    dib = struct.unpack_from("<I", header, 14)[0]
    if dib < 40 or len(header) < 38:
        return None
    width, height, _planes, bits, compression, image_size = struct.unpack_from("<iiHHII", header, 18)
    if compression in (0, 3, 6):  # uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS)
        return offset + ((bits * abs(width) + 31) // 32) * 4 * abs(height)
    return offset + image_size if image_size else None


def _tiff_needs(img: Image.Image) -> int:
    """The end of the furthest strip or tile of the first image in a TIFF."""

    def values(*tags: int) -> tuple:
        found = next((img.tag_v2[t] for t in tags if t in img.tag_v2), ())
        return found if isinstance(found, tuple) else (found,)

    offsets, counts = values(273, 324), values(279, 325)  # StripOffsets/TileOffsets, their byte counts
    return max((int(o) + int(c) for o, c in zip(offsets, counts, strict=False)), default=0)


def _bmff_needs(fp: BinaryIO, size: int) -> int:
    """The end of the last top-level box of an ISO base media file (HEIF, AVIF), as the box headers declare."""
    position = 0
    while position + 8 <= size:
        fp.seek(position)
        length, _kind = struct.unpack(">I4s", fp.read(8))
        if length == 1:
            length = struct.unpack(">Q", fp.read(8))[0]
        elif length == 0:  # the box runs to the end of the file
            return size
        if length < 8:
            return position + 8
        position += length
    return position


def _container_gap(img: Image.Image, fp: BinaryIO, size: int) -> str:
    """What the container says is missing, in words; empty when the container is complete."""
    if img.format == "GIF" and _gif_trailer_missing(fp):
        return "trailer missing"
    if img.format == "BMP":
        needs = _bmp_needs(fp)
        if needs is not None and needs > size:
            return f"pixel data ends at byte {size}, the header promises {needs}"
    if img.format == "TIFF":
        needs = _tiff_needs(img)
        if needs > size:
            return f"image data ends at byte {size}, the directory points to byte {needs}"
    if img.format == "WEBP":
        fp.seek(4)
        needs = struct.unpack("<I", fp.read(4))[0] + 8
        if needs > size:
            return f"file ends at byte {size}, the RIFF header promises {needs}"
    if img.format in ("HEIF", "AVIF"):
        needs = _bmff_needs(fp, size)
        if needs > size:
            return f"file ends at byte {size}, its boxes promise {needs}"
    return ""


def verify_image(img: Image.Image, fp: BinaryIO, *, mime: str, full: bool) -> None:
    """Check that the image's data is complete. `full` decodes every pixel of the first frame; otherwise the
    container is checked without decoding: JPEG end-of-image marker after the scan data, PNG chunk CRCs up to
    IEND, GIF blocks up to the trailer, BMP pixel array size, TIFF strip or tile extents, WebP RIFF size, HEIF and
    AVIF box sizes."""
    label = format_label(mime)
    size = fp.seek(0, io.SEEK_END)
    try:
        if img.format in ("JPEG", "MPO"):
            jpeg_check_end(fp, jpeg_scan_start(fp), label, size)
        gap = _container_gap(img, fp, size)
        if gap:
            raise EvidenceError(f"truncated {label}: {gap}")
        if full:
            fp.seek(0)
            with Image.open(fp, formats=MIME_FORMATS[mime]) as fresh:
                fresh.load()
        elif img.format == "PNG":
            fp.seek(0)
            with Image.open(fp, formats=("PNG",)) as fresh:
                fresh.verify()
    except EvidenceError:
        raise
    except Image.DecompressionBombError as exc:
        raise EvidenceError(f"decompression bomb: {exc}") from exc
    except (SyntaxError, ValueError, struct.error, EOFError, IndexError, OSError) as exc:
        message = pillow_message(exc)
        if "truncated" in message.lower() or isinstance(exc, EOFError):
            raise EvidenceError(f"truncated {label}: {message}") from exc
        raise EvidenceError(f"corrupt {label}: {message}") from exc
