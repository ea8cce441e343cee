"""Derived pictures of evidence images: orientation-corrected WebP thumbnails and previews, made once and cached
under THUMBNAILS_ROOT (never inside the evidence), from the file instance opened read-only by
jobs.evidence_files.open_file_instance.

A picture is keyed by the content's SHA-256, so one made for one job serves every job that found the same content;
callers check access to the job before asking for it. The content is hashed while a picture is made: a file that
no longer holds what the scan found is refused, never shown under the old hash.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps

from content.models import Image
from evidence.images import open_image
from evidence.opening import EvidenceError
from jobs.evidence_files import EvidenceUnavailable, open_file_instance
from jobs.models import FileInstance, Job

logger = logging.getLogger(__name__)

# name -> (max width, max height). Thumbnails fill gallery rows up to 360 px high on high-density screens.
SIZES = {"thumb": (960, 480), "preview": (1600, 1600)}
# Bump when the way pictures are made changes: old files are then simply not used again.
RECIPE = "1"
WEBP_QUALITY = 80


class PictureError(Exception):
    """The image could not be turned into a picture (its pixels do not decode)."""


def _source_instance(job: Job, image: Image) -> FileInstance:
    instance = (
        FileInstance.objects.filter(job=job, image=image, status=FileInstance.Status.IMAGE)
        .order_by("path", "id")
        .first()
    )
    if instance is None:
        raise EvidenceUnavailable(f"job {job.pk} holds no file of image {image.pk}")
    return instance


def picture_path(*, image: Image, size: str) -> Path:
    sha = image.sha256
    return Path(settings.THUMBNAILS_ROOT) / sha[:2] / f"{sha}-{size}-r{RECIPE}.webp"


def _sha256(fp: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := fp.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def _render(fp: BinaryIO, image: Image, box: tuple[int, int]) -> PILImage.Image:
    try:
        img = open_image(fp, mime=image.mime, max_pixels=settings.SCAN_MAX_IMAGE_PIXELS)
    except EvidenceError as exc:
        raise PictureError(str(exc)) from exc
    try:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far less work than decoding every pixel.
        rotated = image.orientation in (5, 6, 7, 8)
        img.draft("RGB", (box[1], box[0]) if rotated else box)
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            img = img.point(lambda value: value / 256).convert("L")
        has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
        img = img.convert("RGBA" if has_alpha else "RGB")
        img.thumbnail(box, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PictureError(f"cannot decode the image: {exc}") from exc
    return img


def picture_get(*, job: Job, image: Image, size: str) -> Path:
    """The path of the image's picture of `size` ("thumb" or "preview"), making it the first time. Raises
    EvidenceUnavailable or PictureError (the caller shows why). Concurrent first requests make it once."""
    box = SIZES[size]
    target = picture_path(image=image, size=size)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    locks = Path(settings.THUMBNAILS_ROOT) / ".locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{image.sha256[:2]}.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        instance = _source_instance(job, image)
        with open_file_instance(job=job, instance=instance) as fp:
            if _sha256(fp) != image.sha256:
                raise EvidenceUnavailable("the evidence file changed since the scan (SHA-256 differs)")
            fp.seek(0)
            picture = _render(fp, image, box)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as tmp:
            try:
                picture.save(tmp, "WEBP", quality=WEBP_QUALITY, method=4)
            except BaseException:
                os.unlink(tmp.name)
                raise
        os.replace(tmp.name, target)
    logger.debug("job %s: %s of image %s made", job.pk, size, image.pk)
    return target
