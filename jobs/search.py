"""Searches over what a job's stages found: the faces the faces stage found (how many, and which look like a given
face), and the images whose classify embedding best matches a sentence.

Every function takes a job the caller has already checked access to (jobs.access.job_get_for_user). Embeddings
are compared only with embeddings of the very same model file (its SHA-256 is recorded with each stage result):
two models' embeddings are not comparable, even when they have the same length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from content.models import Classification, Face
from extractors.registry import get_registry
from jobs.config import extractor_context
from jobs.models import FileInstance, Job

_CHUNK = 4096  # embeddings scored per database round trip


def _job_faces(job: Job) -> QuerySet[Face]:
    """The faces of a job: those the faces stage found in its images with the stage version (pack, thresholds) the
    job ran; another job's run over the same images with another pack is not this job's."""
    config = job.run_config
    if "faces" not in config.versions:
        return Face.objects.none()
    return Face.objects.filter(
        result__stage="faces", result__extractor_version=config.version("faces"), image__job_images__job=job
    )


def job_faces_found(*, job: Job) -> int:
    """How many faces the faces stage found in a job's images."""
    return _job_faces(job).count()


@dataclass(frozen=True)
class FaceMatch:
    face_id: int
    image_id: int
    similarity: float  # cosine similarity, -1 to 1
    same_person: bool  # at or above the same-person threshold recorded with the compared face's result


def job_faces_like(*, job: Job, face: Face, limit: int = 20) -> list[FaceMatch]:
    """The faces of `job` most like `face` (which may come from another job), best first. Only faces embedded by the
    recogniser file that embedded `face` are compared: a job run with another pack has none to compare, and a face
    whose result records no recogniser is compared with none. `same_person` uses the threshold recorded with
    `face`'s result (the pack's, frozen with its job)."""
    import numpy as np

    recorded = face.result.params
    recogniser = recorded.get("recogniser_sha256")
    if not recogniser:
        return []
    threshold = float(recorded["match_threshold"])
    query = np.frombuffer(bytes(face.embedding), dtype="<f4")
    rows = (
        _job_faces(job)
        .filter(result__params__recogniser_sha256=recogniser)
        .exclude(pk=face.pk)
        .distinct()
        .order_by("pk")
        .values_list("pk", "image_id", "embedding")
    )
    scored: list[tuple[float, int, int]] = []
    for pk, image_id, embedding in rows.iterator(chunk_size=_CHUNK):
        scored.append((float(np.frombuffer(bytes(embedding), dtype="<f4") @ query), pk, image_id))
    scored.sort(key=lambda row: (-row[0], row[1]))
    return [FaceMatch(pk, image_id, round(value, 6), value >= threshold) for value, pk, image_id in scored[:limit]]


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

    extractor, provenance = get_registry().loaded("classify", extractor_context("classify", job.run_config))
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

    for image_id, embedding in rows.iterator(chunk_size=_CHUNK):
        ids.append(image_id)
        vectors.append(np.frombuffer(bytes(embedding), dtype="<f4"))
        if len(ids) >= _CHUNK:
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
