"""Decoding evidence images safely: the Pillow format allowlist, pixel limits, header facts and EXIF.

Everything that decodes an evidence image goes through `open_image`, so that the allowlist and the pixel limit hold
in one place.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import pillow_heif
from PIL import Image, UnidentifiedImageError

from evidence.opening import EvidenceError
from evidence.pickling import pickled_by_position

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


def format_label(mime: str) -> str:
    formats = MIME_FORMATS.get(mime, ())
    if not formats:
        return mime
    return _FORMAT_NAMES.get(formats[0], formats[0])


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
        raise EvidenceError(f"corrupt {label}: {pillow_message(exc)}") from exc
    except Exception as exc:
        raise EvidenceError(f"corrupt {label}: {pillow_message(exc)}") from exc
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


def pillow_message(exc: BaseException) -> str:
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
