"""The classify stage: an open_clip model gives every image a normalised embedding (for text search and
similarity) and zero-shot tags against a vocabulary file; a CoCa model also writes a caption.

Tags: each vocabulary label's text embedding is the normalised mean of its sentences' embeddings. An image's score
for a label is the softmax over all labels of the model's scaled cosine similarities (a sigmoid for SigLIP-style
models, which are trained that way); the `top_k` best labels scoring at least `min_score` are kept.

How a batch runs: worker threads decode (JPEGs at a DCT-reduced size just large enough for the model input),
orient and preprocess the next images while this thread runs the model on the current micro-batch.

Models load once per process (the registry caches the loaded extractor), from MODELS_ROOT; nothing here downloads
anything. A missing checkpoint makes the stage unavailable, with the command that installs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from extractors.decoding import decode_oriented
from extractors.modelstore import file_sha256

logger = logging.getLogger(__name__)

ML_REQUIREMENTS_FIX = "pip install -r requirements/ml.txt"
CONFIG_FILE = "open_clip_config.json"


@dataclass(frozen=True)
class Tag:
    label: str
    score: float


@dataclass(frozen=True)
class ClassifyResult:
    """`tags`: best first. `embedding`: the image embedding as float32 values, little-endian, L2-normalised.
    `caption`: empty unless the model is a CoCa captioner."""

    tags: tuple[Tag, ...]
    embedding: bytes
    caption: str = ""


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[str, ...]
    sentences: tuple[tuple[str, ...], ...]
    sha256: str


def vocabulary_read(path: Path) -> Vocabulary:
    """Parse a vocabulary file (`label: sentence | sentence`, # comments). Raises ValueError on a bad line."""
    data = path.read_bytes()
    labels: list[str] = []
    sentences: list[tuple[str, ...]] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, colon, rest = line.partition(":")
        label = label.strip()
        described = tuple(s.strip() for s in rest.split("|") if s.strip()) if colon else (f"a photo of {label}",)
        if not label or not described:
            raise ValueError(f"{path}:{number}: expected 'label: sentence | sentence'")
        if label in labels:
            raise ValueError(f"{path}:{number}: label {label!r} appears twice")
        labels.append(label)
        sentences.append(described)
    if not labels:
        raise ValueError(f"{path}: no labels")
    return Vocabulary(tuple(labels), tuple(sentences), hashlib.sha256(data).hexdigest())


class _RandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def _without_random_init_warning() -> Iterator[None]:
    """open_clip warns that a model created without weights is "initialized randomly"; here the checkpoint is
    loaded right after, and a worker log that says otherwise would mislead whoever audits it."""
    drop = _RandomInitWarning()
    logging.getLogger().addFilter(drop)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(drop)


def _torch_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise StageUnavailable(
            f"classify: device {device} requested, but torch sees no GPU here",
            fix="run this worker on a GPU host, or STAGE_DEVICES=classify=cpu",
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise StageUnavailable(
            f"classify: unknown device {device!r}", fix="STAGE_DEVICES=classify=auto (or cpu, cuda, cuda:N)"
        )
    return device


class ClassifyExtractor:
    name = "classify"
    version = "1"
    queue = "classify"
    # Settings that change what this stage finds; results made under other values are not reused.
    result_params = (
        "model",
        "checkpoint",
        "precision",
        "vocabulary",
        "top_k",
        "min_score",
        "caption_tokens",
    )

    def __init__(self, context: ExtractorContext) -> None:
        self.context = context
        params = context.params
        self.batch_size = max(1, int(params.get("batch_size", 32)))
        self.threads = max(1, int(params.get("decode_threads", 2)))
        self.top_k = int(params.get("top_k", 5))
        self.min_score = float(params.get("min_score", 0.05))
        self.caption_tokens = int(params.get("caption_tokens", 30))
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._labels: tuple[str, ...] = ()
        self._label_embeddings: Any = None
        self._device = "cpu"
        self._dtype: Any = None
        self._decode_sides: dict[str, int] = {}
        self._captions = False

    @staticmethod
    def model_files(context: ExtractorContext) -> list[str]:
        """The files this stage needs, relative to MODELS_ROOT (for `manage.py models list`)."""
        checkpoint = Path(context.params.get("checkpoint") or "")
        config = checkpoint.parent / CONFIG_FILE
        extra = [config.as_posix()] if (Path(context.models_root) / config).is_file() else []
        return [checkpoint.as_posix(), *extra]

    def load(self) -> Provenance:
        params = self.context.params
        root = Path(self.context.models_root)
        architecture = str(params.get("model") or "ViT-B-32")
        checkpoint = root / str(params.get("checkpoint") or "")
        if not checkpoint.is_file():
            folder = Path(str(params.get("checkpoint"))).parent.as_posix()
            raise StageUnavailable(
                f"classify: open_clip checkpoint {params.get('checkpoint')} is not installed in {root} (a zip or "
                f"folder holding {checkpoint.name} installs it)",
                fix=f"python manage.py models install /path/to/{architecture}-folder-or-zip --into {folder}",
            )
        vocabulary_path = Path(str(params.get("vocabulary") or ""))
        try:
            vocabulary = vocabulary_read(vocabulary_path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StageUnavailable(
                f"classify: vocabulary unreadable: {exc}", fix="point CLASSIFY_VOCABULARY at a vocabulary file"
            ) from exc
        try:
            import open_clip
            import torch
            from open_clip.transform import PreprocessCfg, image_transform_v2
        except ImportError as exc:
            raise StageUnavailable(f"classify: {exc.name or exc} is not installed", fix=ML_REQUIREMENTS_FIX) from exc
        device = _torch_device(self.context.device)
        precision = str(params.get("precision") or "fp32")
        config = checkpoint.parent / CONFIG_FILE
        # With its own config file the folder defines the architecture (and the preprocessing); otherwise the
        # architecture is one that open_clip has built in.
        name = f"local-dir:{checkpoint.parent}" if config.is_file() else architecture
        try:
            with _without_random_init_warning():
                model = open_clip.create_model(name, load_weights=False, precision=precision, device=device)
            open_clip.load_checkpoint(model, str(checkpoint))
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            raise StageUnavailable(
                f"classify: cannot load {architecture} from {checkpoint.name} ({type(exc).__name__}: {exc})",
                fix="python manage.py models verify; check CLASSIFY_MODEL matches the checkpoint",
            ) from exc
        model.eval()
        preprocess_cfg = PreprocessCfg(**model.visual.preprocess_cfg)
        side = max(preprocess_cfg.size) if isinstance(preprocess_cfg.size, tuple) else int(preprocess_cfg.size)
        self._decode_sides = {"long_side" if preprocess_cfg.resize_mode == "longest" else "short_side": side}
        self._model, self._tokenizer = model, tokenizer
        self._preprocess = image_transform_v2(preprocess_cfg, is_train=False)
        self._device, self._dtype = device, next(model.parameters()).dtype
        self._captions = isinstance(model, open_clip.CoCa)
        self._labels = vocabulary.labels
        with torch.inference_mode():
            means = [self._encode_text(list(sentences)).mean(dim=0) for sentences in vocabulary.sentences]
            self._label_embeddings = torch.nn.functional.normalize(torch.stack(means), dim=-1)
        logger.info("classify: loaded %s (%s) on %s", architecture, checkpoint.name, device)
        return Provenance(
            stage=self.name,
            version=effective_version(type(self), self.context.params),
            model_name=f"open_clip {architecture}: {checkpoint.relative_to(root).as_posix()}"[:200],
            model_sha256=file_sha256(checkpoint),
            params={
                "architecture": architecture,
                "config_sha256": file_sha256(config) if config.is_file() else "",
                "vocabulary": vocabulary_path.name,
                "vocabulary_sha256": vocabulary.sha256,
                "labels": len(vocabulary.labels),
                "top_k": self.top_k,
                "min_score": self.min_score,
                "caption": self._captions,
                "precision": precision,
                "device": device,
            },
        )

    def _encode_text(self, texts: list[str]) -> Any:
        import torch

        tokens = self._tokenizer(texts).to(self._device)
        return torch.nn.functional.normalize(self._model.encode_text(tokens).float(), dim=-1)

    def text_embedding(self, text: str) -> bytes:
        """The normalised embedding of a sentence, in the image embeddings' space and format (for text search)."""
        import torch

        with torch.inference_mode():
            return self._encode_text([text])[0].cpu().numpy().astype("<f4").tobytes()

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        results: list[ItemResult] = []
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="classify-decode") as pool:
            prepared = prefetched(pool, batch, self._prepare, ahead=2 * self.batch_size)
            for chunk in chunked(prepared, self.batch_size):
                ready = [(ref, tensor) for ref, tensor in chunk if not isinstance(tensor, ItemResult)]
                results += [tensor for _ref, tensor in chunk if isinstance(tensor, ItemResult)]
                if ready:
                    results += self._classify(ready)
        return results

    def _prepare(self, ref: ImageRef) -> Any:
        """Decode, orient and preprocess one image into the model's input tensor (on a worker thread)."""
        try:
            image = decode_oriented(ref, max_pixels=self.context.max_image_pixels, **self._decode_sides)
        except EvidenceError as exc:
            return ItemResult(ref.image_id, Outcome.FAILED, error=str(exc))
        return self._preprocess(image.pixels)

    def _classify(self, ready: list[tuple[ImageRef, Any]]) -> list[ItemResult]:
        import torch

        images = torch.stack([tensor for _ref, tensor in ready]).to(self._device, self._dtype, non_blocking=True)
        with torch.inference_mode():
            if self._captions:
                encoded = self._model(images)
                embeddings, tokens = encoded["image_features"], encoded["image_embs"]
                captions = self._caption(images, embeddings, tokens)
            else:
                embeddings, captions = self._model.encode_image(images), [""] * len(ready)
            embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1)
            logits = embeddings @ self._label_embeddings.T * self._model.logit_scale.exp().float()
            if getattr(self._model, "logit_bias", None) is not None:
                scores = torch.sigmoid(logits + self._model.logit_bias.float())
            else:
                scores = logits.softmax(dim=-1)
            best = scores.topk(min(self.top_k, scores.shape[1]), dim=-1)
        vectors = embeddings.cpu().numpy().astype("<f4")
        values, indices = best.values.cpu().tolist(), best.indices.cpu().tolist()
        results = []
        for row, (ref, _tensor) in enumerate(ready):
            tags = tuple(
                Tag(self._labels[index], round(score, 6))
                for score, index in zip(values[row], indices[row], strict=True)
                if score >= self.min_score
            )
            data = ClassifyResult(tags=tags, embedding=vectors[row].tobytes(), caption=captions[row])
            results.append(ItemResult(ref.image_id, Outcome.DONE, data=data))
        return results

    def _caption(self, images: Any, latent: Any, tokens: Any) -> list[str]:
        """Greedy decoding with the CoCa text decoder: deterministic, so a re-run writes the same caption."""
        import torch

        sot, eot = self._tokenizer.sot_token_id, self._tokenizer.eot_token_id
        text = torch.full((images.shape[0], 1), sot, dtype=torch.long, device=images.device)
        finished = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        for _ in range(self.caption_tokens):
            logits = self._model(images, text, image_latent=latent, image_embs=tokens, output_labels=False)["logits"]
            following = logits[:, -1].argmax(dim=-1)
            following[finished] = eot
            text = torch.cat([text, following[:, None]], dim=1)
            finished |= following == eot
            if bool(finished.all()):
                break
        captions = []
        for row in text[:, 1:].cpu().tolist():
            row = row[: row.index(eot)] if eot in row else row
            captions.append(self._tokenizer.decode(row).strip())
        return captions
