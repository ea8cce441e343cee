"""Decoding evidence images for the model stages: upright (EXIF orientation applied), RGB, and no larger than the
model needs.

Coordinates: a model stage reports positions in the pixels of the full-resolution image *as it is meant to be
seen*, i.e. after its EXIF orientation (the `width` x `height` that discovery stores, not `raw_width` x
`raw_height`). `OrientedImage.scale` maps a position in the decoded pixels to that space.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from PIL import Image

from evidence.images import format_label, open_image
from evidence.opening import EvidenceError, open_evidence
from extractors.base import ImageRef

# EXIF orientation -> the transpose that makes the stored pixels upright (as PIL.ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TURNED = {5, 6, 7, 8}  # orientations that swap width and height


@dataclass(frozen=True)
class OrientedImage:
    """Decoded pixels, upright. `scale`: full-resolution pixels per decoded pixel (1 when decoded at full size;
    2, 4 or 8 after a reduced JPEG decode). `full_size`: upright (width, height) at full resolution."""

    pixels: Image.Image
    scale: float
    full_size: tuple[int, int]


def _draft_request(raw_size: tuple[int, int], *, long_side: int | None, short_side: int | None) -> tuple[int, int]:
    """The size to ask JPEG draft mode for. Draft mode picks the largest DCT reduction (1/2, 1/4, 1/8) that keeps
    both sides at least this large, so the decoded longer (shorter) side stays >= long_side (short_side)."""
    width, height = raw_size
    factor = min(1.0, long_side / max(width, height)) if long_side else min(1.0, (short_side or 0) / min(width, height))
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        # 16-bit and float greyscale: scale to 8 bits instead of letting convert() clip at 255.
        img = img.convert("F")
        low, high = img.getextrema()
        span = (high - low) or 1.0
        img = img.point(lambda v: (v - low) * 255.0 / span).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent areas are shown on white, as a viewer would; their hidden colour values are often black.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img.convert("RGB")


def decode_oriented(
    ref: ImageRef, *, max_pixels: int, long_side: int | None = None, short_side: int | None = None
) -> OrientedImage:
    """Decode an evidence image upright and in RGB. With `long_side` or `short_side` (the pixels the model needs
    on the image's longer or shorter side), a JPEG is decoded at the largest DCT reduction that keeps them, which
    is several times faster than a full decode; other formats, and calls without either, decode at full size.
    Raises EvidenceError, with words for the examiner, for an image that cannot be decoded; never anything else
    for bad data."""
    label = format_label(ref.mime)
    try:
        with open_evidence(ref.path) as fp, open_image(fp, mime=ref.mime, max_pixels=max_pixels) as img:
            raw_size = img.size
            turned = ref.orientation in _TURNED
            scale = 1.0
            if (long_side or short_side) and img.format in ("JPEG", "MPO"):
                drafted = img.draft("RGB", _draft_request(raw_size, long_side=long_side, short_side=short_side))
                if drafted is not None:
                    # Decoded pixel i covers stored pixels [i*s, (i+1)*s): the factor is exact even where the
                    # last decoded row or column is partial.
                    scale = raw_size[0] / drafted[1][2]
            img.load()
            pixels = to_rgb(img)
    except EvidenceError:
        raise
    except Image.DecompressionBombError as exc:
        raise EvidenceError(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        message = str(exc) or type(exc).__name__
        kind = "truncated" if "truncated" in message.lower() or isinstance(exc, EOFError) else "corrupt"
        raise EvidenceError(f"{kind} {label}: {message}") from exc
    if ref.orientation in _UPRIGHT:
        pixels = pixels.transpose(_UPRIGHT[ref.orientation])
    full_size = (raw_size[1], raw_size[0]) if turned else raw_size
    return OrientedImage(pixels, scale, full_size)
