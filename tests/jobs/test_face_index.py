"""The face index of a recogniser: built from the database, kept on disk, extended with new faces rather than
rebuilt; maintained on the jobs queue (never in a search) when faces it holds are gone or faces committed late are
missing; a deleted job's faces are never results and leave the index file; exact while small and an inverted-file
index once large."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache

from content.models import Face, Image
from content.services import stage_results_save
from extractors.base import ItemResult, Outcome, Provenance
from extractors.faces import DetectedFace, FacesResult
from jobs import faceindex, search
from jobs.faceindex import face_index_current, face_index_maintain
from tests.support.bulk import image

RECOGNISER, OTHER = "a" * 64, "b" * 64
DIM = 16
_LANDMARKS = ((1.0, 1.0), (3.0, 1.0), (2.0, 2.0), (1.0, 3.0), (3.0, 3.0))


@pytest.fixture(autouse=True)
def index_root(settings, tmp_path):
    settings.FACE_INDEX_ROOT = tmp_path / "indexes"
    faceindex.face_index_forget()
    cache.delete_many([f"faceindex-queued:{r}" for r in (RECOGNISER, OTHER)])
    yield settings.FACE_INDEX_ROOT
    faceindex.face_index_forget()
    cache.delete_many([f"faceindex-queued:{r}" for r in (RECOGNISER, OTHER)])


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


def held(index) -> set[int]:
    return set(faceindex._held_ids(index).tolist())


def test_the_index_is_kept_extended_and_maintained_apart_from_searches(
    db, mocker, index_root, django_capture_on_commit_callbacks
):
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
    assert extended is not index  # a copy: searches holding the first one find it unchanged
    assert (index.size, extended.size) == (30, 40)
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

    # A face gone, and one committed late with an id below those indexed: the search queues the maintenance and
    # searches what the index holds; the maintenance removes the one and adds the other, without rebuilding.
    Face.objects.filter(pk=ids[0]).delete()
    late = _store(200, 1, seed=4)
    late_id = Face.objects.latest("pk").pk
    other_id = Face.objects.filter(result__params__recogniser_sha256=OTHER).order_by("pk").first().pk
    Face.objects.filter(result__params__recogniser_sha256=OTHER, pk=other_id).delete()
    Face.objects.filter(pk=late_id).update(id=other_id)
    assert other_id < new_ids[-1]
    with django_capture_on_commit_callbacks() as queued:
        searched = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
        face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert len(queued) == 1  # one maintenance queued, however many searches find the index behind
    assert rebuilt.call_count == 1
    assert searched.size == 40
    assert other_id not in held(searched)
    maintained = face_index_maintain(recogniser_sha256=RECOGNISER)
    assert rebuilt.call_count == 1
    assert maintained.size == 40
    assert ids[0] not in held(maintained)
    assert other_id in held(maintained)
    assert _nearest(maintained, late[0]) == other_id
    faceindex.face_index_forget()
    assert held(face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)) == held(maintained)


def test_a_deleted_jobs_faces_are_never_found_and_leave_the_index(
    db, monkeypatch, settings, tmp_path, django_capture_on_commit_callbacks
):
    from cases.services import case_create
    from jobs.models import Job, JobImage
    from jobs.search import FaceQuery, faces_like
    from jobs.services import job_delete
    from tests.persons.test_rules import user

    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    owner = user("owner")
    case = case_create(reference="2024-040", title="t", owner=owner)
    kept_vectors, gone_vectors = _store(1, 10), _store(11, 10, seed=5)
    faces = list(Face.objects.order_by("pk").values_list("pk", "image_id"))
    jobs = []
    for name, rows in (("kept", faces[:10]), ("gone", faces[10:])):
        job = Job.objects.create(case=case, name=name, owner=owner, source_path=str(tmp_path),
                                 config={"stages": ["faces"], "versions": {"faces": RECOGNISER[:8]}})  # fmt: skip
        JobImage.objects.bulk_create([JobImage(job=job, image_id=image_id) for _, image_id in rows])
        jobs.append(job)
    gone_ids = {pk for pk, _ in faces[10:]}
    query = FaceQuery(embedding=gone_vectors[0].tobytes(), recogniser_sha256=RECOGNISER, face_id=None)
    assert faces_like(jobs=jobs, query=query)[0].face_id == faces[10][0]
    index = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert gone_ids <= held(index)

    with django_capture_on_commit_callbacks() as queued:
        job_delete(job=jobs[1])
    assert len(queued) >= 1  # the maintenance of the recogniser's index, on the jobs queue
    found = {match.face_id for match in faces_like(jobs=[jobs[0]], query=query, limit=50)}
    assert found
    assert not found & gone_ids
    face_index_maintain(recogniser_sha256=RECOGNISER)
    faceindex.face_index_forget()
    stored = faceindex._held(RECOGNISER)
    assert not held(stored) & gone_ids
    assert held(stored) == {pk for pk, _ in faces[:10]}
    assert [_nearest(stored, v) for v in kept_vectors] == [pk for pk, _ in faces[:10]]


def test_a_large_index_becomes_an_inverted_file_index(db, monkeypatch):
    import faiss

    monkeypatch.setattr(faceindex, "EXACT_BELOW", 40)
    vectors = _store(1, 30)
    small = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    assert isinstance(faiss.downcast_index(small.index.index), faiss.IndexFlatIP)
    vectors = np.concatenate([vectors, _store(31, 20, seed=3)])
    grown = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)  # searched as it is; rebuilt on the jobs queue
    assert isinstance(faiss.downcast_index(grown.index.index), faiss.IndexFlatIP)
    assert grown.size == 50
    large = face_index_maintain(recogniser_sha256=RECOGNISER)
    assert isinstance(faiss.downcast_index(large.index.index), faiss.IndexIVFFlat)
    assert (large.size, large.trained_at) == (50, 50)
    ids = list(Face.objects.order_by("pk").values_list("pk", flat=True))
    assert [_nearest(large, v) for v in vectors] == ids
    # Faces gone from an inverted-file index: rebuilt without them (its id map cannot take removals).
    Face.objects.filter(pk__in=ids[:5]).delete()
    smaller = face_index_maintain(recogniser_sha256=RECOGNISER)
    assert smaller.size == 45
    assert [_nearest(smaller, v) for v in vectors[5:]] == ids[5:]


def test_searches_in_other_threads_keep_the_index_they_hold_while_it_is_extended(db):
    """The index is copied on write: searches running beside an extension (the gRPC server's threads) find every
    face of the index they took, none half added, and the extension never changes it under them."""
    import threading

    vectors = _store(1, 30)
    ids = list(Face.objects.order_by("pk").values_list("pk", flat=True))
    first = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
    wrong: list[tuple[int, int]] = []
    stop = threading.Event()

    def search_all():
        while not stop.is_set():
            for vector, pk in zip(vectors, ids, strict=True):
                found = _nearest(first, vector)
                if found != pk or first.size != 30:
                    wrong.append((found, pk))

    searchers = [threading.Thread(target=search_all) for _ in range(3)]
    for thread in searchers:
        thread.start()
    try:
        for batch in range(5):
            _store(31 + 5 * batch, 5, seed=10 + batch)
            latest = face_index_current(recogniser_sha256=RECOGNISER, dim=DIM)
            assert latest is not first
            assert latest.size == 35 + 5 * batch
    finally:
        stop.set()
        for thread in searchers:
            thread.join()
    assert not wrong
    assert first.size == 30
    assert [_nearest(latest, v) for v in vectors] == ids
