"""Searches over what the stages found: faces (how many a job has, and which faces of a scope of jobs look like a
stored face or like a face in a reference photo), and the images whose classify embedding best matches a sentence.

Every function takes jobs the caller has already checked access to (jobs.access: job_get_for_user, or
face_search_jobs here, which asks it). Embeddings are compared only with embeddings of the very same model file (its
SHA-256 is recorded with each stage result): two models' embeddings are not comparable, even when they have the
same length.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from content.models import Classification, Face
from evidence.filetypes import sniff
from evidence.images import MIME_FORMATS
from extractors.registry import get_registry
from jobs.access import User, job_list_for_user
from jobs.config import extractor_context
from jobs.faceindex import EXACT_BELOW, FaceIndex, face_index_current
from jobs.models import FileInstance, Job, JobImage

_CHUNK = 4096  # embeddings scored per database round trip


def _job_faces(job: Job) -> QuerySet[Face]:
    """The faces of a job: those the faces stage found in its images with the stage version (pack, thresholds) the
    job ran; another job's run over the same images with another pack is not this job's."""
    return scope_faces([job])


def scope_faces(jobs: Sequence[Job]) -> QuerySet[Face]:
    """The faces of every job in `jobs` (each job's own, as `_job_faces` says)."""
    by_version: dict[str, list[int]] = {}
    for job in jobs:
        if "faces" in job.run_config.versions:
            by_version.setdefault(job.run_config.version("faces"), []).append(job.pk)
    if not by_version:
        return Face.objects.none()
    found = Q()
    for version, job_ids in by_version.items():
        found |= Q(result__extractor_version=version, image__job_images__job__in=job_ids)
    return Face.objects.filter(found, result__stage="faces").distinct()


def face_search_jobs(*, user: User, job: Job, everywhere: bool = False) -> list[Job]:
    """The jobs a face search from `job` covers: the jobs of its case that `user` may see, or with `everywhere`
    every job they may see (jobs.access decides)."""
    visible = job_list_for_user(user=user)
    return list(visible if everywhere else visible.filter(case_id=job.case_id))


def job_faces_found(*, job: Job) -> int:
    """How many faces the faces stage found in a job's images."""
    return _job_faces(job).count()


@dataclass(frozen=True)
class FaceQuery:
    """What a face search looks for: an embedding, the recogniser file that made it, and the face it came from
    (left out of the results), if it is a stored face."""

    embedding: bytes
    recogniser_sha256: str
    face_id: int | None = None

    @classmethod
    def of_face(cls, face: Face) -> FaceQuery | None:
        """The query for a stored face; None for a face whose result records no recogniser."""
        recogniser = face.result.params.get("recogniser_sha256")
        return cls(bytes(face.embedding), recogniser, face.pk) if recogniser else None


@dataclass(frozen=True)
class FaceMatch:
    face_id: int
    image_id: int
    job_id: int  # the job of the scope that found it (the lowest id, when several did)
    similarity: float  # cosine similarity, -1 to 1
    same_person: bool  # at or above the same-person threshold frozen with that job


def faces_like(
    *, jobs: Sequence[Job], query: FaceQuery, limit: int = 20, matches_only: bool = False
) -> list[FaceMatch]:
    """The faces of `jobs` most like the query, best first. Only faces embedded by the query's recogniser file are
    compared: a job run with another pack has none to compare. `same_person` uses the threshold frozen with the
    job that found the face; `matches_only` keeps only those. Scopes under faceindex.EXACT_BELOW faces are scored
    exactly from the database; larger ones go through the recogniser's index (jobs.faceindex), or exactly while it
    has none yet."""
    import numpy as np

    jobs = list(jobs)
    if not jobs:
        return []
    # The threshold each job froze at its creation; a job from before thresholds were frozen uses the one recorded
    # with each face's result.
    thresholds = {job.pk: job.run_config.params.get("faces", {}).get("match_threshold") for job in jobs}
    vector = np.frombuffer(query.embedding, dtype="<f4")
    faces = scope_faces(jobs).filter(result__params__recogniser_sha256=query.recogniser_sha256)
    if query.face_id is not None:
        faces = faces.exclude(pk=query.face_id)
    floor = -2.0
    if matches_only and None not in thresholds.values():
        floor = min(float(value) for value in thresholds.values())
    index = None if faces.count() < EXACT_BELOW else face_index_current(
        recogniser_sha256=query.recogniser_sha256, dim=len(vector)
    )  # fmt: skip
    # A small scope, or no index yet (being built on the jobs queue): scored exactly.
    scored = _scored_exactly(faces, vector) if index is None else _scored_by_index(faces, vector, index, limit, floor)
    scored = [row for row in scored if row[0] >= floor]
    matches = _attributed(jobs, thresholds, scored if matches_only else scored[:limit])
    if matches_only:
        matches = [match for match in matches if match.same_person]
    return matches[:limit]


def _scored_exactly(faces: QuerySet[Face], vector: Any) -> list[tuple[float, int]]:
    import numpy as np

    scored: list[tuple[float, int]] = []
    for pk, embedding in faces.order_by().values_list("pk", "embedding").iterator(chunk_size=_CHUNK):
        scored.append((float(np.frombuffer(bytes(embedding), dtype="<f4") @ vector), pk))
    scored.sort(key=lambda row: (-row[0], row[1]))
    return scored


def _scored_by_index(
    faces: QuerySet[Face], vector: Any, index: FaceIndex, limit: int, floor: float
) -> list[tuple[float, int]]:
    """The index's nearest faces that are in `faces`, asking it for more until `limit` of them are found, the
    index is exhausted, or the nearest left are below `floor`."""
    k = max(4 * limit, 256)
    while True:
        nearest = index.search(vector, k)
        kept = set(faces.filter(pk__in=[pk for pk, _score in nearest]).values_list("pk", flat=True))
        scored = [(round(score, 6), pk) for pk, score in nearest if pk in kept]
        if len(scored) >= limit or k >= index.size or (nearest and nearest[-1][1] < floor):
            return sorted(scored, key=lambda row: (-row[0], row[1]))
        k *= 4


def _attributed(
    jobs: Sequence[Job], thresholds: dict[int, float | None], scored: list[tuple[float, int]]
) -> list[FaceMatch]:
    """Each scored face with its image, the (lowest-id) job of the scope that found it, and whether it is the
    same person by that job's threshold."""
    versions = {job.pk: job.run_config.version("faces") for job in jobs}
    rows = {
        pk: (image_id, version, recorded)
        for pk, image_id, version, recorded in Face.objects.filter(pk__in=[pk for _s, pk in scored]).values_list(
            "pk", "image_id", "result__extractor_version", "result__params__match_threshold"
        )
    }
    in_jobs: dict[int, list[int]] = {}
    for image_id, job_id in (
        JobImage.objects.filter(image_id__in={row[0] for row in rows.values()}, job_id__in=list(versions))
        .order_by("job_id")
        .values_list("image_id", "job_id")
    ):
        in_jobs.setdefault(image_id, []).append(job_id)
    matches = []
    for value, pk in scored:
        if pk not in rows:
            continue  # deleted since it was scored
        image_id, version, recorded = rows[pk]
        job_id = next((j for j in in_jobs.get(image_id, []) if versions[j] == version), None)
        if job_id is not None:
            threshold = float(thresholds[job_id] if thresholds[job_id] is not None else recorded)
            matches.append(FaceMatch(pk, image_id, job_id, round(value, 6), value >= threshold))
    return matches


def job_faces_like(*, job: Job, face: Face, limit: int = 20) -> list[FaceMatch]:
    """The faces of `job` most like `face` (which may come from another job), best first; none for a face whose
    result records no recogniser (see faces_like)."""
    query = FaceQuery.of_face(face)
    return faces_like(jobs=[job], query=query, limit=limit) if query else []


class ReferenceRefused(ValueError):
    """A reference photo that cannot be searched with; the message is for the examiner."""


def reference_size_check(size: int) -> None:
    """Refuse a reference photo larger than FACE_SEARCH_UPLOAD_MAX (before it is read, where the size is known)."""
    limit = settings.FACE_SEARCH_UPLOAD_MAX
    if size > limit:
        raise ReferenceRefused(
            f"the reference photo is {size / 2**20:.1f} MB; the most accepted is {limit / 2**20:.0f} MB"
        )


@dataclass(frozen=True)
class ReferenceFace:
    """One face found in a reference photo: its place (pixels of the upright photo), a JPEG crop to show when the
    examiner must choose, and the query it makes."""

    index: int
    box: tuple[float, float, float, float]  # x, y, width, height
    crop: bytes
    query: FaceQuery


def reference_faces(*, data: bytes) -> list[ReferenceFace]:
    """The faces in a reference photo, best detection first, found with this host's face pack. The photo is never
    stored: it is written to a temporary file that is deleted before this returns. Raises ReferenceRefused for a
    photo too large, not an image, or unreadable, and StageUnavailable when no face pack is installed here."""
    from extractors.base import ImageRef, Outcome

    reference_size_check(len(data))
    mime, _note, _contradicts = sniff(data[:8192], b"")
    if mime not in MIME_FORMATS:
        raise ReferenceRefused(f"the upload is not an image this software opens ({mime})")
    extractor, provenance = get_registry().loaded("faces", extractor_context("faces"))
    with tempfile.NamedTemporaryFile(prefix="reference-", suffix=".img") as handle:
        handle.write(data)
        handle.flush()
        [result] = extractor.run([ImageRef(0, os.fsencode(handle.name), mime)])
    if result.outcome is not Outcome.DONE:
        raise ReferenceRefused(f"the reference photo cannot be searched with: {result.error}")
    recogniser = provenance.params["recogniser_sha256"]
    return [
        ReferenceFace(i, (face.x, face.y, face.width, face.height), face.crop, FaceQuery(face.embedding, recogniser))
        for i, face in enumerate(result.data.faces)
    ]


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
