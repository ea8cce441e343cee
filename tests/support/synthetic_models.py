"""Model files with the exact signatures of the real ones and made-up weights, for the tests and the ML benchmark
(benchmarks/ml.py imports it from here). No scan ever uses them, so they live with the tests rather than in the
extractors package, which a base-only install imports without onnx. Real weights cannot be downloaded where the
tests run, and none are committed.

- Face packs laid out as insightface's (MODELS_ROOT/models/<pack>/<detector>, <recogniser>), as ONNX graphs that
  insightface's model zoo routes the way it routes the real files: an SCRFD detector with nine outputs (score, box
  and landmarks for strides 8, 16, 32; two anchors per position) and an ArcFace recogniser [N,3,112,112] -> [N,512]
  with a dynamic batch.
  The detector sees a "face" wherever a stride-32 cell of its input is (almost) white: it reports that cell as the
  box, with fixed landmarks inside it. So a test knows where faces must be found, and the benchmark controls how
  many faces each image holds.
  size="tiny" keeps the graphs minimal (fast tests); size="full" adds the compute of buffalo_l's det_10g (~10
  GFLOPs at 640x640) and w600k_r50 (an IResNet-50, ~12 GFLOPs per face) for timing.
- open_clip checkpoints with random weights: a tiny config of our own (with its open_clip_config.json), a tiny
  CoCa captioner, or a built-in architecture such as ViT-B-32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STRIDES = (8, 16, 32)
ANCHORS = 2
# Landmarks of a detected face, as fractions of its box: left eye, right eye, nose tip, mouth left, mouth right.
LANDMARKS = ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.78), (0.65, 0.78))
_WHITE = 0.9  # a stride-32 cell is a face when its mean input (white = 0.996 after SCRFD's scaling) exceeds this


@dataclass
class _Graph:
    """A small helper over onnx.helper that names nodes and counts multiply-accumulates."""

    seed: int
    nodes: list[Any] = field(default_factory=list)
    weights: list[Any] = field(default_factory=list)
    macs: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self._name(prefix)
        self.weights.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def ints(self, values: list[int]) -> str:
        name = self._name("shape")
        self.weights.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(
        self,
        x: str,
        size: int,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        *,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        gain: float = 1.0,
        pad: bool = True,
    ) -> tuple[str, int]:
        """A convolution; returns its output and output size (for a square input of `size`)."""
        if weight is None:
            weight = self.rng.standard_normal((cout, cin, kernel, kernel)) * gain * np.sqrt(2.0 / (cin * kernel**2))
        padding = (kernel - 1) // 2 if pad else 0
        inputs = [x, self.const(weight)]
        if bias is not None:
            inputs.append(self.const(bias, "b"))
        out = self.op("Conv", inputs, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[padding] * 4)
        out_size = (size + 2 * padding - kernel) // stride + 1
        self.macs += out_size * out_size * cout * cin * kernel * kernel
        return out, out_size

    def save(self, path: Path, inputs: list[Any], outputs: list[Any]) -> Path:
        graph = helper.make_graph(self.nodes, path.stem, inputs, outputs, self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path


def _head_out(graph: _Graph, x: str, channels: int, outputs: list[str], name: str) -> None:
    """NCHW -> (positions * anchors, channels), the layout SCRFD's decoder reads."""
    moved = graph.op("Transpose", [x], perm=[0, 2, 3, 1])
    graph.nodes.append(helper.make_node("Reshape", [moved, graph.ints([-1, channels])], [name]))
    outputs.append(name)


def build_detector(path: Path, *, size: str = "tiny", seed: int = 0) -> tuple[Path, int]:
    """An SCRFD-signature detector. Returns the path and its multiply-accumulates at 640x640."""
    graph = _Graph(seed)
    image = "input.1"
    features: dict[int, tuple[str, int]] = {}
    if size == "full":
        # A backbone and neck of roughly det_10g's cost, feeding the three stride levels.
        x, s = graph.conv(image, 640, 3, 32, 3, 2)
        x = graph.op("Relu", [x])
        x, s = graph.conv(x, s, 32, 64, 3, 2)
        x = graph.op("Relu", [x])
        widths = {8: 96, 16: 160, 32: 256}
        cin = 64
        for stride in STRIDES:
            x, s = graph.conv(x, s, cin, widths[stride], 3, 2)
            x = graph.op("Relu", [x])
            for _ in range(2):
                y, _ = graph.conv(x, s, widths[stride], widths[stride], 3)
                x = graph.op("Add", [x, graph.op("Relu", [y])])
            head = x
            for _ in range(2):
                head, _ = graph.conv(head, s, widths[stride], widths[stride], 3)
                head = graph.op("Relu", [head])
            features[stride] = (head, widths[stride])
            cin = widths[stride]
    outputs: list[str] = []
    heads = {"score": (1, []), "bbox": (4, []), "kps": (10, [])}
    for stride in STRIDES:
        cells = 3 * stride * stride
        # Score: the mean of the cell's input; only stride 32 can reach the threshold.
        k, threshold = (30.0, _WHITE) if stride == 32 else (30.0, 4.0)
        score, _ = graph.conv(
            image,
            640,
            3,
            ANCHORS,
            stride,
            stride,
            weight=np.full((ANCHORS, 3, stride, stride), k / cells),
            bias=np.full(ANCHORS, -k * threshold),
            pad=False,
        )
        box_bias = np.tile([0.0, 0.0, 1.0, 1.0], ANCHORS)  # left, top, right, bottom, in strides: the cell itself
        kps_bias = np.tile(np.asarray(LANDMARKS).reshape(-1), ANCHORS)
        box, _ = graph.conv(
            image, 640, 3, 4 * ANCHORS, stride, stride, weight=np.zeros((4 * ANCHORS, 3, stride, stride)),
            bias=box_bias, pad=False,
        )  # fmt: skip
        kps, _ = graph.conv(
            image, 640, 3, 10 * ANCHORS, stride, stride, weight=np.zeros((10 * ANCHORS, 3, stride, stride)),
            bias=kps_bias, pad=False,
        )  # fmt: skip
        if stride in features:
            # The learned heads' compute, with a weight small enough that the bright-cell rule decides.
            feature, channels = features[stride]
            parts = {"score": ANCHORS, "bbox": 4 * ANCHORS, "kps": 10 * ANCHORS}
            extra = {}
            for part, width in parts.items():
                conv, _ = graph.conv(feature, 640 // stride, channels, width, 1, gain=1e-4)
                extra[part] = conv
            score = graph.op("Add", [score, extra["score"]])
            box = graph.op("Add", [box, extra["bbox"]])
            kps = graph.op("Add", [kps, extra["kps"]])
        heads["score"][1].append(graph.op("Sigmoid", [score]))
        heads["bbox"][1].append(box)
        heads["kps"][1].append(kps)
    names = []
    for part, (channels, tensors) in heads.items():
        for stride, tensor in zip(STRIDES, tensors, strict=True):
            name = f"{part}_{stride}"
            _head_out(graph, tensor, channels, outputs, name)
            names.append((name, channels))
    inputs = [helper.make_tensor_value_info(image, TensorProto.FLOAT, [1, 3, "height", "width"])]
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"{name}_rows", c]) for name, c in names]
    return graph.save(path, inputs, outs), graph.macs


def build_recogniser(path: Path, *, size: str = "tiny", seed: int = 1) -> tuple[Path, int]:
    """An ArcFace-signature recogniser: [N,3,112,112] -> [N,512], N dynamic. Returns the path and its
    multiply-accumulates per face."""
    graph = _Graph(seed)
    image = "input.1"
    if size == "full":
        # IResNet-50 (w600k_r50): 3, 4, 14, 3 residual blocks of two 3x3 convolutions at 64..512 channels.
        x, s = graph.conv(image, 112, 3, 64, 3)
        x = graph.op("Relu", [x])
        cin = 64
        for blocks, cout in zip((3, 4, 14, 3), (64, 128, 256, 512), strict=True):
            for block in range(blocks):
                stride = 2 if block == 0 else 1
                y, _ = graph.conv(x, s, cin, cout, 3)
                y = graph.op("Relu", [y])
                y, s_out = graph.conv(y, s, cout, cout, 3, stride, gain=0.1)
                shortcut = x
                if stride != 1 or cin != cout:
                    shortcut, _ = graph.conv(x, s, cin, cout, 1, stride, pad=False)
                x, s, cin = graph.op("Add", [shortcut, y]), s_out, cout
        flat = graph.op("Flatten", [x])
        fc_in = cin * s * s
    else:
        x, _ = graph.conv(image, 112, 3, 16, 8, 8, pad=False)
        flat = graph.op("Flatten", [graph.op("GlobalAveragePool", [x])])
        fc_in = 16
    weight = graph.rng.standard_normal((512, fc_in)) / np.sqrt(fc_in)
    graph.macs += fc_in * 512
    output = "embedding"
    graph.nodes.append(
        helper.make_node(
            "Gemm", [flat, graph.const(weight), graph.const(graph.rng.standard_normal(512) * 0.1)], [output], transB=1
        )
    )
    inputs = [helper.make_tensor_value_info(image, TensorProto.FLOAT, ["None", 3, 112, 112])]
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["None", 512])]
    return graph.save(path, inputs, outputs), graph.macs


def write_faces_pack(
    models_root: Path, *, pack: str = "buffalo_l", files: tuple[str, str] = ("det_10g.onnx", "w600k_r50.onnx"),
    size: str = "tiny",
) -> dict[str, int]:  # fmt: skip
    """Both graphs of a pack under MODELS_ROOT/models/<pack>/. Returns each file's multiply-accumulates."""
    folder = models_root / "models" / pack
    _, detector = build_detector(folder / files[0], size=size)
    _, recogniser = build_recogniser(folder / files[1], size=size)
    return {files[0]: detector, files[1]: recogniser}


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_COCA = {  # CoCa needs its embedding, text and decoder widths equal
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "attentional_pool": True,
        "attn_pooler_heads": 2, "output_tokens": True,
    },
    "text_cfg": {
        "context_length": 76, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2, "embed_cls": True,
        "output_tokens": True,
    },
    "multimodal_cfg": {"context_length": 76, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1,
                       "attn_pooler_heads": 2},
    "custom_text": True,
}  # fmt: skip


def write_open_clip(
    models_root: Path, name: str, *, config: dict | None = None, file: str = "open_clip_model.safetensors"
) -> Path:
    """A random-weight open_clip checkpoint at MODELS_ROOT/open_clip/<name>/<file>. With `config`, the folder gets
    that architecture as its open_clip_config.json; without, `name` must be a built-in architecture (ViT-B-32)."""
    import open_clip
    import torch
    from safetensors.torch import save_model

    folder = models_root / "open_clip" / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if config is not None:
        (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
        model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    else:
        model = open_clip.create_model(name)
    # Random init leaves logit_scale at ln(1/0.07); keep it, as trained models have a similar scale.
    save_model(model, str(folder / file))
    return folder / file
