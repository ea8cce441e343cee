"""Near-duplicates for the pdq tests: a real photograph (one that installed packages ship) and the copies an examiner
meets (smaller, recompressed, turned, mirrored, cropped)."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image

from jobs.samples import PACKAGED_PHOTOS, PACKAGED_PHOTOS_WITHOUT_PEOPLE, packaged_photo

PHOTOS = {**PACKAGED_PHOTOS, **PACKAGED_PHOTOS_WITHOUT_PEOPLE}


def real_photo(name: str) -> Image.Image:
    """A packaged photograph by its sample name ("people/astronaut.png"), in RGB."""
    path = packaged_photo(*PHOTOS[name])
    assert path is not None, f"{name} ships with an installed package (requirements)"
    return Image.open(path).convert("RGB")


def recompressed(img: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def cropped(img: Image.Image, area: float) -> Image.Image:
    """The middle of the image, `area` of it taken away evenly from the four edges."""
    keep = (1 - area) ** 0.5
    w, h = img.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return img.crop((dx, dy, w - dx, h - dy))


VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "25 %": lambda img: img.resize((img.width // 4, img.height // 4), Image.Resampling.LANCZOS),
    "JPEG quality 20": lambda img: recompressed(img, 20),
    "turned 90°": lambda img: img.transpose(Image.Transpose.ROTATE_90),
    "turned 270°": lambda img: img.transpose(Image.Transpose.ROTATE_270),
    "mirrored": lambda img: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "5 % of its area cropped": lambda img: cropped(img, 0.05),
}
