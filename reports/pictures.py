"""The report's thumbnails: small JPEGs (160 px, quality 70) of evidence images made from the file a job found,
opened read-only as the gallery's pictures are (jobs.evidence_files), and checked against the SHA-256 the scan
recorded: a file that changed since is shown as unavailable, never under the old hash. A veiled thumbnail (a
sensitive category, a flagging hash set) is blurred here, in its pixels, not by the page's style: the report file
never holds the picture in the clear unless the requester asked for it."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from dataclasses import dataclass

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageFilter, ImageOps

from content.models import Image
from evidence.images import open_image
from evidence.opening import EvidenceError
from jobs.evidence_files import EvidenceUnavailable, open_file_instance
from jobs.models import FileInstance, Job

logger = logging.getLogger(__name__)
SIZE = 160
QUALITY = 70
# Strong enough that nothing of the picture is recognisable at 160 px.
BLUR_RADIUS = 12


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail as the report shows it: a data: URI, or why there is none."""

    uri: str = ""
    blurred: bool = False
    missing: str = ""


def _jpeg(picture: PILImage.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_pixels(*, job: Job, instance: FileInstance, image: Image) -> PILImage.Image:
    """The image's pixels, orientation applied, fitted in SIZE x SIZE. Raises EvidenceUnavailable (missing,
    changed) or EvidenceError (does not decode)."""
    with open_file_instance(job=job, instance=instance) as fp:
        digest = hashlib.sha256()
        while block := fp.read(1 << 20):
            digest.update(block)
        if digest.hexdigest() != image.sha256:
            raise EvidenceUnavailable("the evidence file changed since the scan (SHA-256 differs)")
        fp.seek(0)
        picture = open_image(fp, mime=image.mime, max_pixels=settings.SCAN_MAX_IMAGE_PIXELS)
        try:
            picture.draft("RGB", (SIZE * 2, SIZE * 2))
            picture = ImageOps.exif_transpose(picture)
            if picture.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                picture = picture.point(lambda value: value / 256).convert("L")
            picture = picture.convert("RGB")
            picture.thumbnail((SIZE, SIZE), PILImage.Resampling.LANCZOS, reducing_gap=2.0)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise EvidenceError(f"cannot decode the image: {exc}") from exc
    return picture


def thumbnail_make(*, job: Job, instance: FileInstance | None, image: Image | None, blur: bool) -> Thumbnail:
    """The thumbnail of `image` from the file `instance` of `job` (None: the report's jobs hold no file of it),
    blurred where `blur` says. A file that is no image (a hash set matches every file) has none, and is not read.
    Whatever one file does (unreadable, hostile to the decoder) is that picture's result, never the report's."""
    if image is None:
        return Thumbnail(missing="not an image")
    if instance is None:
        return Thumbnail(missing="no file of the image in the report's jobs")
    try:
        picture = thumbnail_pixels(job=job, instance=instance, image=image)
        if blur:
            picture = picture.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
        return Thumbnail(uri=data_uri(_jpeg(picture), "image/jpeg"), blurred=blur)
    except (EvidenceUnavailable, EvidenceError) as exc:
        return Thumbnail(missing=str(exc))
    except Exception as exc:
        logger.exception("report thumbnail of file %s (job %s) failed", instance.pk, getattr(job, "pk", None))
        return Thumbnail(missing=f"the thumbnail could not be made ({type(exc).__name__}, logged)")


def crop_make(crop: bytes, *, blur: bool) -> Thumbnail:
    """A face's stored crop (a JPEG the faces stage made), blurred where `blur` says."""
    try:
        with PILImage.open(io.BytesIO(crop), formats=["JPEG"]) as picture:
            picture = picture.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        return Thumbnail(missing=f"the face's crop does not decode: {exc}")
    picture.thumbnail((SIZE, SIZE))
    if blur:
        picture = picture.filter(ImageFilter.GaussianBlur(max(2, BLUR_RADIUS * picture.width // SIZE)))
    return Thumbnail(uri=data_uri(_jpeg(picture), "image/jpeg"), blurred=blur)
