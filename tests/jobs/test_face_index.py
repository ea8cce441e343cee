"""The face index of a recogniser: built from the database, kept on disk, extended with new faces rather than
rebuilt, rebuilt when faces it holds are gone, exact while small and an inverted-file index once large."""

from __future__ import annotations

import numpy as np
import pytest

from content.models import Face, Image
from content.services import stage_results_save
from extractors.base import ItemResult, Outcome, Provenance
from extractors.faces import DetectedFace, FacesResult
from jobs import faceindex
from jobs.faceindex import face_index_current
from tests.support.bulk import image

RECOGNISER, OTHER = "a" * 64, "b" * 64
DIM = 16
_LANDMARKS = ((1.0, 1.0), (3.0, 1.0), (2.0, 2.0), (1.0, 3.0), (3.0, 3.0))


@pytest.fixture(autouse=True)
def index_root(settings, tmp_path):
    settings.FACE_INDEX_ROOT = tmp_path / "indexes"
    faceindex.face_index_forget()
    yield settings.FACE_INDEX_ROOT
    faceindex.face_index_forget()


def _store(first: int, count: int, recogniser: str = RECOGNISER, seed: int = 0) -> np.ndarray:
    """`count` images from number `first`, one face each, embedded by `recogniser`; their embeddings."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype("<f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    results = []
    for n, vector in zip(range(first, first + count), vectors, strict=True):
        img = Image.objects.create(**image(n))
        face = DetectedFace(0.0, 0.0, 8.0, 8.0, 0.9, _LANDMARKS, vector.tobytes(), b"")
        results.append(ItemResult(img.pk, Outcome.DONE, FacesResult((face,))))
    params = {"recogniser_sha256": recogniser, "match_threshold": 0.3}
    stage_results_save(provenance=Provenance(stage="faces", version=recogniser[:8], params=params), results=results)
    return vectors


def _nearest(index, vector) -> int:
    return index.search(vector, 1)[0][0]


def test_the_index_is_kept_extended_and_rebuilt_only_when_faces_are_gone(db, mocker, index_root):
    vectors = _store(1, 30)
    _store(100, 5, recogniser=OTHER, seed=1)
    rebuilt = mocker.spy(faceindex, "_rebuilt")
    index = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert index.size == 30  # the other recogniser's faces are not in it
    ids = list(
        Face.objects.filter(result__params__recogniser_sha256=RECOGNISER).order_by("pk").values_list("pk", flat=True)
    )
    assert [_nearest(index, v) for v in vectors] == ids
    assert sorted(p.name for p in index_root.iterdir()) == [
        f"{RECOGNISER}.faiss",
        f"{RECOGNISER}.json",
        f"{RECOGNISER}.lock",
    ]

    more = _store(31, 10, seed=2)
    extended = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert extended is index
    assert extended.size == 40
    new_ids = list(
        Face.objects.filter(pk__gt=ids[-1], result__params__recogniser_sha256=RECOGNISER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert [_nearest(extended, v) for v in more] == new_ids
    # Another process (here: this one, having forgotten it) loads it from its file, up to date: no rebuild.
    faceindex.face_index_forget()
    loaded = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert (loaded.size, loaded.last_id) == (40, new_ids[-1])
    assert rebuilt.call_count == 1

    Face.objects.filter(pk=ids[0]).delete()
    after = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert rebuilt.call_count == 2
    assert after.size == 39
    assert _nearest(after, vectors[0]) != ids[0]


def test_a_large_index_becomes_an_inverted_file_index(db, monkeypatch):
    import faiss

    monkeypatch.setattr(faceindex, "EXACT_BELOW", 40)
    vectors = _store(1, 30)
    small = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert isinstance(faiss.downcast_index(small.index.index), faiss.IndexFlatIP)
    vectors = np.concatenate([vectors, _store(31, 20, seed=3)])
    large = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert isinstance(faiss.downcast_index(large.index.index), faiss.IndexIVFFlat)
    assert (large.size, large.trained_at) == (50, 50)
    ids = list(Face.objects.order_by("pk").values_list("pk", flat=True))
    assert [_nearest(large, v) for v in vectors] == ids
