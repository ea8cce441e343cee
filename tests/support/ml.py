"""Helpers for the faces and classify tests: tiny models built in the test session (insightface-signature ONNX
graphs, random-weight open_clip checkpoints) and evidence pictures whose faces are where the tests say.

The synthetic detector sees a face in every 32x32 cell of its 640x640 input that is white (see
tests.support.synthetic_models). A 1280x960 picture is decoded at half size for detection, so a white 64x64 square at
a multiple of 64 in the picture is one face whose box is exactly that square.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageDraw

from evidence.images import open_image, read_info
from evidence.opening import open_evidence
from extractors.base import ExtractorContext, ImageRef
from jobs.samples import exif_bytes
from tests.support.environment import REPO
from tests.support.synthetic_models import TINY_CLIP, write_faces_pack, write_open_clip

VOCABULARY = REPO / "extractors" / "vocabulary.txt"
CLIP_CHECKPOINT = "open_clip/tiny/open_clip_model.safetensors"
FACE = 64  # side of a face square, in picture pixels
# The orientation -> transpose that turns an upright picture into the pixels a camera stores with that tag
# (the inverse of what a viewer applies).
_STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def build_models(root: Path) -> Path:
    """MODELS_ROOT with a tiny buffalo_l pack and a tiny open_clip checkpoint (with its config)."""
    write_faces_pack(root)
    write_open_clip(root, "tiny", config=TINY_CLIP)
    return root


def faces_params(**overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "pack": "buffalo_l",
        "det_threshold": 0.5,
        "nms_threshold": 0.4,
        "det_size": 640,
        "min_face_size": 20,
        "batch_size": 4,
        "crop_size": 96,
        "decode_threads": 2,
    }
    return {**params, **overrides}


def classify_params(**overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "model": "tiny",
        "checkpoint": CLIP_CHECKPOINT,
        "precision": "fp32",
        "vocabulary": str(VOCABULARY),
        "top_k": 5,
        "min_score": 0.0,
        "batch_size": 4,
        "decode_threads": 2,
        "caption_tokens": 4,
    }
    return {**params, **overrides}


def classify_env() -> dict[str, str]:
    """The environment that makes a process (worker or web server) choose the tiny classify model."""
    return {"CLASSIFY_MODEL": "tiny", "CLASSIFY_CHECKPOINT": CLIP_CHECKPOINT, "CLASSIFY_MIN_SCORE": "0"}


def context(root: Path, params: dict[str, object]) -> ExtractorContext:
    return ExtractorContext(models_root=root, device="cpu", params=params)


def face_picture(
    width: int = 1280, height: int = 960, faces: tuple[tuple[int, int], ...] = ((256, 192),), shade: int = 110
) -> Image.Image:
    """An upright grey picture with a white FACE x FACE square at each (x, y)."""
    img = Image.new("RGB", (width, height), (shade, shade + 10, shade + 20))
    draw = ImageDraw.Draw(img)
    for x, y in faces:
        draw.rectangle((x, y, x + FACE - 1, y + FACE - 1), fill=(255, 255, 255))
    return img


def write_picture(path: Path, img: Image.Image, *, orientation: int | None = None, fmt: str = "JPEG") -> Path:
    """Store `img` (upright) as a camera with this EXIF orientation would: pixels turned, tag set."""
    stored = img.transpose(_STORED[orientation]) if orientation in _STORED else img
    options: dict[str, object] = {"quality": 95} if fmt == "JPEG" else {}
    if orientation:
        options["exif"] = exif_bytes(orientation=orientation)
    buffer = io.BytesIO()
    stored.save(buffer, fmt, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def evidence_ref(path: Path, image_id: int = 1) -> ImageRef:
    """The ImageRef a scan would hand a stage: the MIME type and orientation read the way discovery reads them."""
    mime = {".jpg": "image/jpeg", ".png": "image/png"}[path.suffix]
    with open_evidence(os.fsencode(path)) as fp, open_image(fp, mime=mime, max_pixels=89_478_485) as img:
        info = read_info(img, fp, b"")
    return ImageRef(image_id=image_id, path=os.fsencode(path), mime=mime, orientation=info.orientation)
