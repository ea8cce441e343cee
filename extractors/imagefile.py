"""Reading evidence files safely: read-only opens, the Pillow format allowlist, pixel limits, header facts.

Everything that opens an evidence file goes through `open_evidence`, and everything that decodes one goes through
`open_image`, so that the read-only and allowlist rules hold in one place.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, BinaryIO, NamedTuple

import pillow_heif
from PIL import Image, UnidentifiedImageError

from extractors.exifblock import exif_ifd0

pillow_heif.register_heif_opener()
# Pixel limits are enforced by `open_image` with a clear per-file error; Pillow's own warning would only be noise.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
# Pillow's complaints about damaged metadata ("Corrupt EXIF data") would flood worker logs; where they matter, the
# EXIF stage records them in its result (it collects warnings itself, which overrides this filter).
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

# MIME type (from magic bytes) -> the only Pillow plugins allowed to parse it. This is the allowlist: no other
# plugin ever sees evidence (never EPS/PS, which would run Ghostscript).
MIME_FORMATS: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/gif": ("GIF",),
    "image/webp": ("WEBP",),
    "image/tiff": ("TIFF",),
    "image/bmp": ("BMP",),
    "image/x-ms-bmp": ("BMP",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
    "image/heic-sequence": ("HEIF",),
    "image/heif-sequence": ("HEIF",),
    "image/avif": ("AVIF",),
}

# Names used in messages ("truncated JPEG", "corrupt PNG").
_FORMAT_NAMES = {"MPO": "JPEG", "WEBP": "WebP", "HEIF": "HEIF"}

_O_NOATIME = getattr(os, "O_NOATIME", 0)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


class EvidenceError(Exception):
    """A per-file problem, with a message meant for the examiner."""


def format_label(mime: str) -> str:
    formats = MIME_FORMATS.get(mime, ())
    if not formats:
        return mime
    return _FORMAT_NAMES.get(formats[0], formats[0])


def describe_os_error(exc: OSError) -> str:
    """Plain words for the errors an evidence tree produces."""
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ELOOP:
        return "symlink loop"
    if code == errno.ENOENT:
        return "file vanished during the scan"
    if code == errno.ENAMETOOLONG:
        return "path too long for the operating system"
    if code == errno.EIO:
        return "input/output error (damaged medium?)"
    return f"cannot read: {exc.strerror or exc}"


# Paths this long are refused by the kernel (ENAMETOOLONG); evidence trees can still hold them.
_PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
_STEP_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


@contextmanager
def reach_evidence(path: bytes | str) -> Iterator[tuple[int | None, bytes | str]]:
    """(dir_fd, name) that reach `path` for the *at() system calls. A path the kernel would refuse as too long is
    reached one folder at a time, each opened without following a symbolic link."""
    raw = os.fsencode(path)
    if len(raw) < _PATH_MAX:
        yield None, path
        return
    parent, _, name = raw.rpartition(b"/")
    fd = os.open(b"/" if raw.startswith(b"/") else b".", _STEP_FLAGS | os.O_CLOEXEC)
    try:
        for part in parent.split(b"/"):
            if part:
                step = os.open(part, _STEP_FLAGS | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = step
        yield fd, name
    finally:
        os.close(fd)


def evidence_lstat(path: bytes | str) -> os.stat_result:
    with reach_evidence(path) as (folder, name):
        return os.stat(name, dir_fd=folder, follow_symlinks=False)


def evidence_readlink(path: bytes | str) -> bytes:
    with reach_evidence(path) as (folder, name):
        return os.readlink(os.fsencode(name), dir_fd=folder)


def _open_noatime(path: bytes | str, flags: int) -> int:
    with reach_evidence(path) as (folder, name):
        try:
            return os.open(name, flags | _O_NOATIME, dir_fd=folder)
        except PermissionError as exc:
            if exc.errno != errno.EPERM or not _O_NOATIME:
                raise
        # O_NOATIME is refused for files we do not own; the volume is expected to be mounted read-only then.
        return os.open(name, flags, dir_fd=folder)


def open_evidence_folder(path: bytes | str) -> int:
    """Open an evidence folder for listing (a descriptor for `os.scandir`; the caller closes it). Listing a folder
    updates its access time just as reading a file does, so it is opened with O_NOATIME too. Raises OSError."""
    return _open_noatime(path, _FOLDER_FLAGS)


def open_evidence(path: bytes | str, expect: os.stat_result | None = None) -> BinaryIO:
    """Open an evidence file read-only without changing its access time, never through a symbolic link and never
    blocking on a FIFO. With `expect`, refuse a file that is no longer the one that was lstat'ed (swapped)."""
    try:
        fd = _open_noatime(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link where the walk saw a file
            raise EvidenceError("replaced by a symbolic link since it was listed; not followed") from exc
        raise EvidenceError(describe_os_error(exc)) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise EvidenceError("not a regular file")
        if expect is not None and (st.st_ino, st.st_dev) != (expect.st_ino, expect.st_dev):
            raise EvidenceError("file was replaced during the scan")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def pickled_by_position(cls: type) -> type:
    """Class decorator for a frozen dataclass with slots: pickle its instances as the class and its field values
    in order. Pickle's own way for such a class names every field in every object, and rebuilding it from those
    names costs more than the rest of a probe's trip from a worker process (jobs.discovery)."""
    values = attrgetter(*(f.name for f in fields(cls)))
    cls.__reduce__ = lambda self: (type(self), values(self))
    return cls


@pickled_by_position
@dataclass(frozen=True, slots=True)
class ImageInfo:
    """Facts read from an image's header."""

    format: str
    width: int
    height: int
    orientation: int | None
    mode: str
    bit_depth: int | None
    dpi_x: float | None
    dpi_y: float | None
    frames: int
    icc_profile: bool

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as the image is meant to be seen (EXIF orientation 5-8 turns it by 90 degrees)."""
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


_MODE_BITS = {"1": 1, "I": 32, "F": 32, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16}


def _bit_depth(img: Image.Image, head: bytes) -> int | None:
    if img.format == "PNG" and len(head) >= 25:
        return head[24]  # IHDR bit depth per channel
    if img.format in ("JPEG", "MPO"):
        return getattr(img, "bits", None) or 8
    if img.format == "TIFF":
        bits = img.tag_v2.get(258)  # BitsPerSample
        if isinstance(bits, tuple):
            return int(bits[0]) if bits else None
        if bits is not None:
            return int(bits)
    if img.format in ("HEIF", "AVIF"):
        depth = img.info.get("bit_depth")
        if depth:
            return int(depth)
    return _MODE_BITS.get(img.mode, 8)


def _dpi(img: Image.Image) -> tuple[float | None, float | None]:
    if img.format == "TIFF" and 282 not in img.tag_v2:
        return None, None  # no XResolution: Pillow would report 1 dpi, which the file does not say
    dpi = img.info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None, None
    return (round(x, 3) or None), (round(y, 3) or None)


def _png_exif_chunk(fp: BinaryIO) -> bytes | None:
    """The eXIf chunk of a PNG, found by walking the chunk headers (Pillow would decode every pixel to reach an
    eXIf chunk stored after the image data)."""
    fp.seek(8)
    while True:
        header = fp.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind == b"eXIf":
            data = fp.read(length)
            return data if len(data) == length else None
        if kind == b"IEND":
            return None
        fp.seek(length + 4, io.SEEK_CUR)


def read_exif(img: Image.Image, fp: BinaryIO) -> Image.Exif:
    """The image's EXIF, without decoding pixels. May raise on hostile data: callers decide what that means."""
    if img.format == "PNG" and "exif" not in img.info:
        position = fp.tell()
        try:
            raw = _png_exif_chunk(fp)
        finally:
            fp.seek(position)
        exif = Image.Exif()
        if raw:
            exif.load(raw)
        return exif
    if img.format == "HEIF":
        return _heif_exif(img)
    return img.getexif()


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


def _heif_exif(img: Image.Image) -> Image.Exif:
    """pillow-heif turns a HEIF image's pixels as its container says and rewrites the EXIF orientation to 1, so
    that nothing turns them twice. The EXIF reported here is what the file holds: the original value goes back."""
    exif = Image.Exif()
    raw = img.info.get("exif")
    if raw:
        exif.load(raw)
    original = img.info.get("original_orientation")
    if isinstance(original, int) and 0x0112 in exif:
        exif[0x0112] = original
    return exif


def _orientation(img: Image.Image, fp: BinaryIO) -> int | None:
    try:
        value = read_exif(img, fp).get(0x0112)
    except Exception:  # noqa: BLE001 - hostile EXIF must not stop typing; the exif stage reports it
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def open_image(fp: BinaryIO, *, mime: str, max_pixels: int) -> Image.Image:
    """Open an image with the allowlisted plugin for its MIME type and refuse decompression bombs."""
    formats = MIME_FORMATS.get(mime)
    if not formats:
        raise EvidenceError(f"not a decodable image type: {mime}")
    label = format_label(mime)
    try:
        img = Image.open(fp, formats=formats)
    except Image.DecompressionBombError as exc:
        size = _declared_size(fp, formats)
        if size is None or size[0] * size[1] <= max_pixels:
            raise EvidenceError(f"decompression bomb: {exc}") from exc
        raise EvidenceError(_bomb_message(size, max_pixels)) from exc
    except (UnidentifiedImageError, SyntaxError, ValueError, struct.error, EOFError, IndexError) as exc:
        raise EvidenceError(f"corrupt {label}: {_pillow_message(exc)}") from exc
    except Exception as exc:
        raise EvidenceError(f"corrupt {label}: {_pillow_message(exc)}") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        raise EvidenceError(f"corrupt {label}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise EvidenceError(_bomb_message(img.size, max_pixels))
    return img


def _bomb_message(size: tuple[int, int], max_pixels: int) -> str:
    return f"decompression bomb: {size[0]}x{size[1]} exceeds the pixel limit ({max_pixels} pixels)"


def _declared_size(fp: BinaryIO, formats: tuple[str, ...]) -> tuple[int, int] | None:
    """The size an image's header declares, read by its allowlisted plugin alone. Pillow refuses images over twice
    its own limit before `open_image` sees them, and its message gives neither the size nor the job's limit."""
    fp.seek(0)
    prefix = fp.read(16)
    for name in formats:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None:
            continue
        accepted = accept(prefix) if accept else True
        if not accepted or isinstance(accepted, str):  # a string is Pillow's "not this format" message
            continue
        try:
            fp.seek(0)
            return factory(fp, "").size
        except Exception:  # noqa: BLE001 - only the wording of the error depends on it
            return None
    return None


def _pillow_message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__  # libheif ends its messages with a newline
    # Pillow names the file object in some messages; the examiner knows which file it is.
    return text.replace(" <_io.BytesIO object", "").split(" at 0x")[0]


def read_info(img: Image.Image, fp: BinaryIO, head: bytes) -> ImageInfo:
    dpi_x, dpi_y = _dpi(img)
    try:
        frames = int(getattr(img, "n_frames", 1) or 1)
    except Exception:  # noqa: BLE001 - a damaged frame table still leaves a readable first frame
        frames = 1
    width, height = img.size
    orientation = _orientation(img, fp)
    if img.format == "HEIF" and orientation in (5, 6, 7, 8):
        width, height = height, width  # pillow-heif reports the turned size; the file stores the pixels unturned
    return ImageInfo(
        format=img.format or "",
        width=width,
        height=height,
        orientation=orientation,
        mode=img.mode,
        bit_depth=_bit_depth(img, head),
        dpi_x=dpi_x,
        dpi_y=dpi_y,
        frames=frames,
        icc_profile=bool(img.info.get("icc_profile")),
    )


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
    _jpeg_check_end(fp, scan_start, "JPEG", size)
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


def _jpeg_scan_start(fp: BinaryIO) -> int | None:
    """Offset just after the first start-of-scan segment."""
    for kind, offset, length in _jpeg_segments(fp):
        if kind == 0xDA:
            return offset + length
    return None


def _jpeg_check_end(fp: BinaryIO, scan_start: int | None, label: str, size: int) -> None:
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
            _jpeg_check_end(fp, _jpeg_scan_start(fp), label, size)
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
        message = _pillow_message(exc)
        if "truncated" in message.lower() or isinstance(exc, EOFError):
            raise EvidenceError(f"truncated {label}: {message}") from exc
        raise EvidenceError(f"corrupt {label}: {message}") from exc
