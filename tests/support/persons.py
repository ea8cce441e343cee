"""Faces of a case without the faces stage: synthetic identities (embeddings near a random direction per person),
stored as the faces stage stores them, one face per image, for the tests of the persons' rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from content.models import Face, StageResult
from persons.updates import persons_pending_add
from tests.support.review import images_in_case

DIM = 128


def identities(count: int, *, seed: int = 0) -> np.ndarray:
    """`count` random unit directions (nearly orthogonal in DIM dimensions): one per person."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def faces_of(identity: np.ndarray, count: int, *, spread: float = 0.05, seed: int = 0) -> np.ndarray:
    """`count` faces of one person: its direction plus noise, L2-normalised (cosine distance about 0.25 apart)."""
    rng = np.random.default_rng((seed, 1))  # a stream apart from the identities' own
    rows = identity + rng.normal(scale=spread, size=(count, DIM)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def store_faces(
    *, case, owner, source: Path, vectors: np.ndarray, first: int, model_sha256: str = "a" * 64
) -> list[int]:
    """A job of `case` that found images numbered from `first`, one face each with the embedding of its row of
    `vectors`, found by the model `model_sha256`, pending for the case's next update of its persons (as a faces batch
    leaves them). Returns the face ids, in the order of the rows."""
    _, images = images_in_case(case=case, owner=owner, source=source, numbers=range(first, first + len(vectors)))
    faces = []
    for picture, vector in zip(images, vectors, strict=True):
        result, _ = StageResult.objects.get_or_create(
            image=picture, stage="faces", extractor_version="test",
            defaults={"status": "done", "model_name": "sface", "model_sha256": model_sha256},
        )  # fmt: skip
        faces.append(
            Face.objects.create(
                result=result, image=picture, index=0, x=0, y=0, width=1, height=1, score=0.9, landmarks=[],
                embedding=vector.astype("<f4").tobytes(), crop=b"crop",
            ).pk
        )  # fmt: skip
    persons_pending_add(case_id=case.pk, image_ids=[picture.pk for picture in images])
    return faces
