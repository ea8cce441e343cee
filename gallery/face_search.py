"""Reads over the faces a job's faces stage found: how many, and which look like a given face.

Every function takes a job the caller has already checked access to (jobs.access.job_get_for_user). Embeddings
are compared only with embeddings of the very same recogniser file (its SHA-256 is recorded with each stage result):
two models' embeddings are not comparable, even when they have the same length.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from gallery.models import Face
from jobs.models import Job

_CHUNK = 4096  # embeddings scored per database round trip


def _job_faces(job: Job) -> QuerySet[Face]:
    """The faces of a job: those the faces stage found in its images with the stage version (pack, thresholds) the
    job ran; another job's run over the same images with another pack is not this job's."""
    version = job.config.get("versions", {}).get("faces")
    if version is None:
        return Face.objects.none()
    return Face.objects.filter(result__stage="faces", result__extractor_version=version, image__job_images__job=job)


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
