"""Reads of what the stages found: per-image summaries for export, and ranking a job's images by a sentence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count

from extractors.registry import get_registry
from gallery.models import Classification, StageResult

if TYPE_CHECKING:
    from jobs.models import Job

_SEARCH_CHUNK = 4096  # embeddings scored per database round trip


def image_ml_summaries(*, image_ids: Iterable[int], versions: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """image id -> {"faces": how many faces, "tags": "label; label; ..."} from the stage versions a job ran.
    A value is None when that stage has no DONE result for the image (not run, unavailable, failed), so that
    "no faces found" (0) and "not analysed" (None) never look alike."""
    ids = list(image_ids)
    summaries: dict[int, dict[str, Any]] = {i: {"faces": None, "tags": None} for i in ids}
    if not ids:
        return summaries
    if "faces" in versions:
        faces = (
            StageResult.objects.filter(
                image_id__in=ids, stage="faces", extractor_version=versions["faces"], status=StageResult.Status.DONE
            )
            .annotate(found=Count("faces"))
            .values_list("image_id", "found")
        )
        for image_id, found in faces:
            summaries[image_id]["faces"] = found
    if "classify" in versions:
        tags = Classification.objects.filter(
            image_id__in=ids, result__extractor_version=versions["classify"]
        ).values_list("image_id", "tags")
        for image_id, image_tags in tags:
            summaries[image_id]["tags"] = "; ".join(tag["label"] for tag in image_tags)
    return summaries


@dataclass(frozen=True)
class TextHit:
    image_id: int
    score: float  # cosine similarity between the sentence and the image, -1 to 1
    path: str  # the image's first path in the job
    sha256: str


def job_images_by_text(*, job: Job, text: str, limit: int = 20) -> list[TextHit]:
    """A job's images ranked by how well they match a sentence ("a red car"), best first. Uses the classify model
    of this process (loaded once) and compares only with embeddings that the very same model file produced.
    Raises StageUnavailable when the classify model is not installed here."""
    import numpy as np

    from jobs.models import FileInstance
    from jobs.stages import extractor_context

    extractor, provenance = get_registry().loaded("classify", extractor_context)
    query = np.frombuffer(extractor.text_embedding(text), dtype="<f4")
    rows = (
        Classification.objects.filter(
            image__job_images__job=job,
            result__extractor_version=provenance.version,
            result__model_sha256=provenance.model_sha256,
        )
        .order_by("image_id")
        .values_list("image_id", "embedding")
    )
    best: list[tuple[float, int]] = []
    ids: list[int] = []
    vectors: list[Any] = []

    def score() -> None:
        nonlocal best
        if ids:
            scores = np.stack(vectors) @ query
            best = sorted([*best, *zip(scores.tolist(), ids, strict=True)], reverse=True)[:limit]
            ids.clear()
            vectors.clear()

    for image_id, embedding in rows.iterator(chunk_size=_SEARCH_CHUNK):
        ids.append(image_id)
        vectors.append(np.frombuffer(bytes(embedding), dtype="<f4"))
        if len(ids) >= _SEARCH_CHUNK:
            score()
    score()
    chosen = [image_id for _score, image_id in best]
    paths: dict[int, tuple[str, str]] = {}
    for image_id, path, sha256 in (
        FileInstance.objects.filter(job=job, image_id__in=chosen)
        .order_by("path", "id")
        .values_list("image_id", "path", "sha256")
    ):
        paths.setdefault(image_id, (path, sha256))
    return [TextHit(image_id, round(value, 6), *paths[image_id]) for value, image_id in best]
