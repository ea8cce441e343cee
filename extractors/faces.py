"""The faces stage: a face pack's detector (YuNet or SCRFD) and recogniser (SFace or ArcFace), run with onnxruntime.

For every image: each face's box, detection score and five landmarks (eyes, nose tip, mouth corners), in pixels of
the full-resolution image as it is meant to be seen (EXIF orientation applied, the `width` x `height` discovery
stores); its L2-normalised embedding (as long as the recogniser makes them: 128 for SFace, 512 for ArcFace); and a
small JPEG crop for the web app. Zero faces is a DONE result. Embeddings are comparable only with embeddings of the
same recogniser file (its SHA-256 is recorded with every result, as is the pack's same-person threshold).

How a batch runs: worker threads decode the next images (JPEGs at a DCT-reduced size just large enough for the
detector) while this thread runs the detector over the current micro-batch; images with faces found on a reduced
decode are decoded again at full size so that alignment and crops use every pixel; then every face of the
micro-batch goes through the recogniser in one batch.

Known limit: detection runs one image per call; only recognition is batched. YuNet's graph has a fixed batch of one;
the packs' SCRFD graphs
(det_10g.onnx...) have no batch axis in their outputs (one row per anchor of a single image), and insightface's
`detect()` letterboxes, decodes and suppresses overlaps for one image (its batched-graph branch reads only the first
image of the output). Batching detection would need re-exported detector graphs and our own SCRFD decoding and NMS
in place of insightface's. The cost is expected on GPU hosts (one 640x640 image leaves a GPU partly idle) more
than on CPUs, where onnxruntime already spreads one image over every core.

Models load once per process (the registry caches the loaded extractor), from MODELS_ROOT/models/<pack>/.
Nothing here downloads anything: a missing pack makes the stage unavailable, with the command that installs it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from evidence.opening import EvidenceError
from extractors.base import (
    ExtractorContext,
    ImageRef,
    ItemResult,
    Outcome,
    Provenance,
    StageUnavailable,
    effective_version,
)
from extractors.batching import chunked, prefetched
from extractors.decoding import OrientedImage, decode_oriented
from extractors.facemodels import DEFAULT_PACK, PACKS, FacePack, load_detector, load_recogniser
from extractors.modelstore import file_sha256

logger = logging.getLogger(__name__)

FACES_REQUIREMENTS_FIX = "pip install -r requirements/faces.txt"
_EMBED_BATCH = 64  # faces per recogniser call; 64 aligned 112x112 crops are ~10 MB of input
_CROP_MARGIN = 1.4  # the UI crop shows a little more than the box
# ArcFace alignment maps a detector box to about three quarters of the aligned crop's side: a box at least that
# many pixels wide already holds every pixel the crop needs, so no finer decode is made for it.
_ALIGN_SHARE = 0.75


@dataclass(frozen=True)
class DetectedFace:
    """One face. Positions are in full-resolution upright pixels; `embedding` is the recogniser's float32 values
    (128 for SFace, 512 for ArcFace), little-endian, L2-normalised (cosine similarity is their dot product, between
    embeddings of the same recogniser file only); `crop` is a JPEG for display."""

    x: float
    y: float
    width: float
    height: float
    score: float
    landmarks: tuple[tuple[float, float], ...]
    embedding: bytes
    crop: bytes


@dataclass(frozen=True)
class FacesResult:
    faces: tuple[DetectedFace, ...] = ()


@dataclass(frozen=True)
class _Detected:
    ref: ImageRef
    image: OrientedImage
    faces: list[_Candidate]
    finer: Future[OrientedImage | None] | None  # a finer decode for alignment, when the detection one was coarse


@dataclass(frozen=True)
class _Candidate:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2, full-resolution upright pixels
    score: float
    landmarks: Any  # (5, 2) array, full-resolution upright pixels


def face_pack(params: Mapping[str, Any]) -> FacePack:
    """The configured pack. A name that is not a known pack needs its detector and recogniser files configured; it
    then runs with ArcFace defaults."""
    name = params.get("pack") or DEFAULT_PACK
    if name in PACKS:
        return PACKS[name]
    if not params.get("detector") or not params.get("recogniser"):
        raise StageUnavailable(
            f"faces: unknown model pack {name!r} and no detector/recogniser file configured",
            fix=f"set FACES_PACK to one of {', '.join(PACKS)}, or FACES_DETECTOR_FILE and FACES_RECOGNISER_FILE",
        )
    arcface = PACKS["buffalo_l"]
    return FacePack(
        name=name,
        detector="",
        recogniser="",
        licence="unknown (not a pack this software lists)",
        non_commercial=False,
        det_threshold=arcface.det_threshold,
        nms_threshold=arcface.nms_threshold,
        min_face_size=arcface.min_face_size,
        match_threshold=arcface.match_threshold,
    )


def pack_files(params: Mapping[str, Any]) -> tuple[str, str]:
    """The detector and recogniser paths, relative to MODELS_ROOT, for the configured pack."""
    pack = face_pack(params)
    detector = params.get("detector") or pack.detector
    recogniser = params.get("recogniser") or pack.recogniser
    return f"models/{pack.name}/{detector}", f"models/{pack.name}/{recogniser}"


def _providers(device: str, available: Sequence[str]) -> list[Any]:
    """onnxruntime execution providers for a device setting ("auto", "cpu", "cuda", "cuda:N")."""
    cuda = "CUDAExecutionProvider" in available
    if device == "cpu" or (device == "auto" and not cuda):
        return ["CPUExecutionProvider"]
    if device == "auto" or device.startswith("cuda"):
        if not cuda:
            raise StageUnavailable(
                f"faces: device {device} requested, but onnxruntime has no CUDA provider here",
                fix="pip install -r requirements/gpu.txt on a GPU host, or STAGE_DEVICES=faces=cpu",
            )
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise StageUnavailable(f"faces: unknown device {device!r}", fix="STAGE_DEVICES=faces=auto (or cpu, cuda, cuda:N)")


class FacesExtractor:
    name = "faces"
    version = "1"
    queue = "faces"
    # Settings that change what this stage finds; results made under other values are not reused.
    result_params = (
        "pack",
        "detector",
        "recogniser",
        "det_threshold",
        "nms_threshold",
        "det_size",
        "min_face_size",
        "match_threshold",
        "crop_size",
    )
    # Of those, the ones a pack chooses when they are left unset (None or "").
    _PACK_DEFAULTS = ("det_threshold", "nms_threshold", "min_face_size", "match_threshold")

    @classmethod
    def resolved_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` with the pack's own thresholds in place of unset ones: what a job freezes at its creation, so
        that it keeps the thresholds it started with even if a later release changes a pack's defaults."""
        try:
            pack = face_pack(params)
        except StageUnavailable:
            return dict(params)  # load() reports it, with the fix
        return {
            **params,
            **{key: getattr(pack, key) for key in cls._PACK_DEFAULTS if params.get(key) in (None, "")},
        }

    def __init__(self, context: ExtractorContext) -> None:
        self.context = context
        params = context.params
        self.det_size = int(params.get("det_size", 640))
        self.min_face_size = 20.0  # the pack's, or the configured one, once loaded
        self.batch_size = max(1, int(params.get("batch_size", 16)))
        self.crop_size = int(params.get("crop_size", 112))
        self.threads = max(1, int(params.get("decode_threads", 2)))
        self._detector: Any = None
        self._recogniser: Any = None

    @staticmethod
    def model_files(context: ExtractorContext) -> list[str]:
        """The files this stage needs, relative to MODELS_ROOT (for `manage.py models list`)."""
        return list(pack_files(context.params))

    def load(self) -> Provenance:
        params = self.resolved_params(self.context.params)
        pack = face_pack(params)
        root = Path(self.context.models_root)
        relative = pack_files(params)
        missing = [path for path in relative if not (root / path).is_file()]
        if missing:
            source = (
                f"{pack.wheel.requirement.replace('==', '-')}-py3-none-any.whl" if pack.wheel else f"{pack.name}.zip"
            )
            raise StageUnavailable(
                f"faces: model pack {pack.name} is not installed in {root} (missing {', '.join(missing)}; a zip or "
                f"folder of the pack holds {' and '.join(Path(p).name for p in relative)})",
                fix=f"python manage.py models install /path/to/{source}",
            )
        try:
            import onnxruntime
            from insightface.model_zoo import model_zoo  # noqa: F401 - the loaders need it; fail here with the fix
        except ImportError as exc:
            raise StageUnavailable(f"faces: {exc.name or exc} is not installed", fix=FACES_REQUIREMENTS_FIX) from exc
        device = self.context.device
        providers = _providers(device, onnxruntime.get_available_providers())
        onnxruntime.set_default_logger_severity(3)
        detector_path, recogniser_path = (str(root / path) for path in relative)
        threshold, nms = float(params["det_threshold"]), float(params["nms_threshold"])
        try:
            detector = load_detector(
                detector_path, providers, det_thresh=threshold, nms_thresh=nms, det_size=self.det_size
            )
            recogniser = load_recogniser(recogniser_path, providers, norm=pack.recogniser_norm)
        except ValueError as exc:
            raise StageUnavailable(
                f"faces: {exc} ({', '.join(relative)})",
                fix="set FACES_DETECTOR_FILE and FACES_RECOGNISER_FILE to the pack's detector and recogniser",
            ) from exc
        except Exception as exc:
            raise StageUnavailable(
                f"faces: cannot load the model files ({type(exc).__name__}: {exc})",
                fix="python manage.py models verify, then reinstall the pack with python manage.py models install",
            ) from exc
        running = detector.session.get_providers()[0]
        if device.startswith("cuda") and running != "CUDAExecutionProvider":
            raise StageUnavailable(
                f"faces: onnxruntime could not start CUDA for {device} (it runs on {running})",
                fix="check the GPU driver and CUDA libraries (nvidia-smi), or STAGE_DEVICES=faces=cpu",
            )
        self._detector, self._recogniser = detector, recogniser
        self.min_face_size = float(params["min_face_size"])
        hashes = {path: file_sha256(root / path) for path in relative}
        listing = "".join(f"{digest}  {path}\n" for path, digest in hashes.items())
        logger.info("faces: loaded %s on %s", ", ".join(relative), running)
        return Provenance(
            stage=self.name,
            version=effective_version(type(self), params),
            model_name=f"{pack.name}: {Path(relative[0]).name} + {Path(relative[1]).name}",
            # One digest for the pair: the SHA-256 of their sha256sum listing (each file's own digest is in params).
            model_sha256=hashlib.sha256(listing.encode()).hexdigest(),
            params={
                "model_files": hashes,
                # Embeddings compare only with embeddings of this very recogniser file, at this threshold.
                "recogniser_sha256": hashes[relative[1]],
                "embedding_dim": recogniser.dim,
                "match_threshold": float(params["match_threshold"]),
                "licence": pack.licence,
                "det_threshold": threshold,
                "nms_threshold": nms,
                "det_size": self.det_size,
                "min_face_size": self.min_face_size,
                "device": "cuda" if running == "CUDAExecutionProvider" else "cpu",
            },
        )

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        results: list[ItemResult] = []
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="faces-decode") as pool:
            decoded = prefetched(pool, batch, self._decode_for_detection, ahead=2 * self.batch_size)
            # Software pipelining: a micro-batch is described (aligned, embedded) after the next one is detected,
            # so that the finer decodes it asked for run on the pool meanwhile.
            waiting: list[list[_Detected]] = []
            for chunk in chunked(decoded, self.batch_size):
                waiting.append(self._detect_chunk(pool, chunk, results))
                if len(waiting) > 1:
                    results += self._describe(waiting.pop(0))
            for detected in waiting:
                results += self._describe(detected)
        return results

    def _decode_for_detection(self, ref: ImageRef) -> OrientedImage | ItemResult:
        try:
            return decode_oriented(ref, max_pixels=self.context.max_image_pixels, long_side=self.det_size)
        except EvidenceError as exc:
            return ItemResult(ref.image_id, Outcome.FAILED, error=str(exc))

    def _decode_finer(self, ref: ImageRef, long_side: int) -> OrientedImage | None:
        try:
            return decode_oriented(ref, max_pixels=self.context.max_image_pixels, long_side=long_side)
        except EvidenceError as exc:
            logger.warning("faces: image %s: finer decode failed (%s); aligning on the reduced one", ref.image_id, exc)
            return None

    def _finer_side(self, image: OrientedImage, faces: list[_Candidate]) -> int | None:
        """The decode size (longer side) that gives the smallest face box `_ALIGN_SHARE` of the recogniser's input
        side, when the detection decode is coarser than that; None when it is fine as it is."""
        if not faces or image.scale == 1.0:
            return None
        smallest = min(min(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in faces)
        needed = self._recogniser.input_size[0] * _ALIGN_SHARE
        if smallest / image.scale >= needed:
            return None
        scale = 1.0  # the coarsest reduction (a power of two, as JPEG draft mode offers) that keeps `needed`
        while scale * 2 <= smallest / needed:
            scale *= 2
        return math.ceil(max(image.full_size) / scale)

    def _detect(self, image: OrientedImage) -> list[_Candidate]:
        import numpy as np

        boxes, points = self._detector.detect(image.pixels)
        full_w, full_h = image.full_size
        found = []
        for box, landmarks in zip(boxes, points, strict=True):
            x1, y1, x2, y2 = (float(v) * image.scale for v in box[:4])
            x1, x2 = max(0.0, x1), min(float(full_w), x2)
            y1, y2 = max(0.0, y1), min(float(full_h), y2)
            if min(x2 - x1, y2 - y1) < self.min_face_size:
                continue
            found.append(_Candidate((x1, y1, x2, y2), float(box[4]), landmarks.astype(np.float64) * image.scale))
        found.sort(key=lambda face: -face.score)
        return found

    def _detect_chunk(
        self,
        pool: ThreadPoolExecutor,
        chunk: list[tuple[ImageRef, OrientedImage | ItemResult]],
        results: list[ItemResult],
    ) -> list[_Detected]:
        """Detect faces in a micro-batch; images that end here (undecodable, too narrow) go to `results`."""
        detected: list[_Detected] = []
        for ref, image in chunk:
            if isinstance(image, ItemResult):
                results.append(image)
                continue
            width, height = image.pixels.size
            if min(width, height) * self.det_size < 2 * max(width, height):
                message = f"faces: image too narrow to search ({width}x{height})"
                results.append(ItemResult(ref.image_id, Outcome.SKIPPED, error=message))
                continue
            faces = self._detect(image)
            # Alignment and crops want detail that a reduced decode lost: decode again, finer, on the pool.
            side = self._finer_side(image, faces)
            finer = pool.submit(self._decode_finer, ref, side) if side else None
            detected.append(_Detected(ref, image, faces, finer))
        return detected

    def _describe(self, detected: list[_Detected]) -> list[ItemResult]:
        """Align, embed and crop the faces of a detected micro-batch (all its faces in one recogniser batch)."""
        import numpy as np

        aligned: list[Any] = []
        crops: list[list[bytes]] = []
        for item in detected:
            source = (item.finer.result() if item.finer else None) or item.image
            bgr = np.ascontiguousarray(np.asarray(source.pixels)[:, :, ::-1])
            crops.append([])
            for face in item.faces:
                aligned.append(self._align(bgr, face.landmarks / source.scale))
                crops[-1].append(self._crop(source, face.box))
        embeddings = iter(self._embed(aligned))
        results = []
        for item, image_crops in zip(detected, crops, strict=True):
            found = []
            for face, crop in zip(item.faces, image_crops, strict=True):
                x1, y1, x2, y2 = face.box
                found.append(
                    DetectedFace(
                        x=round(x1, 2),
                        y=round(y1, 2),
                        width=round(x2 - x1, 2),
                        height=round(y2 - y1, 2),
                        score=round(face.score, 6),
                        landmarks=tuple((round(float(x), 2), round(float(y), 2)) for x, y in face.landmarks),
                        embedding=next(embeddings),
                        crop=crop,
                    )
                )
            results.append(ItemResult(item.ref.image_id, Outcome.DONE, data=FacesResult(tuple(found))))
        return results

    def _align(self, bgr: Any, landmarks: Any) -> Any:
        from insightface.utils import face_align

        size = self._recogniser.input_size[0]
        with warnings.catch_warnings():
            # scikit-image 0.26 deprecates the call insightface aligns with; the result is unchanged until 2.2.
            warnings.filterwarnings("ignore", category=FutureWarning, module="insightface")
            return face_align.norm_crop(bgr, landmark=landmarks.astype("float32"), image_size=size)

    def _embed(self, aligned: list[Any]) -> list[bytes]:
        out: list[bytes] = []
        for start in range(0, len(aligned), _EMBED_BATCH):
            unit = self._recogniser.embed(aligned[start : start + _EMBED_BATCH])
            out += [row.astype("<f4").tobytes() for row in unit]
        return out

    def _crop(self, image: OrientedImage, box: tuple[float, float, float, float]) -> bytes:
        x1, y1, x2, y2 = (v / image.scale for v in box)
        side = max(x2 - x1, y2 - y1) * _CROP_MARGIN
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        square = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
        thumb = image.pixels.crop(square).resize((self.crop_size, self.crop_size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        thumb.save(buffer, "JPEG", quality=85)
        return buffer.getvalue()
