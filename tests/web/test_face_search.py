"""Find this face: a case's faces ranked by likeness to a face of the image panel or of a reference photo, with the
real default face pack (YuNet + SFace) on real photographs and augmented copies of them."""

from __future__ import annotations

import pytest

from content.models import Face
from jobs import faceindex, search
from jobs.search import FaceQuery, faces_like
from tests.support.facesearch import store_real_faces, write_face_case

pytestmark = pytest.mark.integration


@pytest.fixture
def face_setup(settings, real_models, tmp_path, fresh_registry):
    settings.MODELS_ROOT = real_models
    settings.FACE_INDEX_ROOT = tmp_path / "indexes"
    faceindex.face_index_forget()
    yield
    faceindex.face_index_forget()


@pytest.fixture
def face_case(scan, examiner, sources_root, face_setup):
    write_face_case(sources_root / "faces")
    job = scan(examiner, name="faces")
    store_real_faces(job)
    return job


def _faces_of(job, name: str) -> list[Face]:
    return list(Face.objects.filter(image__instances__job=job, image__instances__path=name).order_by("index"))


def test_find_this_face_ranks_the_same_persons_faces_above_the_others(face_case, monkeypatch):
    job = face_case
    [astronaut] = _faces_of(job, "astronaut.png")
    same = {f.pk for name in ("astronaut-mirrored.png", "astronaut-darker.jpg") for f in _faces_of(job, name)}
    assert len(same) == 2
    others = {f.pk for name in ("six-people.png", "six-people-mirrored.png") for f in _faces_of(job, name)}
    assert len(others) >= 10

    ranked = faces_like(jobs=[job], query=FaceQuery.of_face(astronaut), limit=50)
    assert {m.face_id for m in ranked[:2]} == same
    assert all(m.same_person for m in ranked[:2])
    assert not any(m.same_person for m in ranked[2:])
    assert {m.face_id for m in ranked[2:]} == others
    assert {m.job_id for m in ranked} == {job.pk}
    matched = faces_like(jobs=[job], query=FaceQuery.of_face(astronaut), limit=50, matches_only=True)
    assert [m.face_id for m in matched] == [m.face_id for m in ranked[:2]]

    # Each of the six people finds their own mirror image first.
    mirrored = {f.pk for f in _faces_of(job, "six-people-mirrored.png")}
    for face in _faces_of(job, "six-people.png"):
        [best] = faces_like(jobs=[job], query=FaceQuery.of_face(face), limit=1)
        assert best.face_id in mirrored
        assert best.same_person

    # Through the recogniser's index (as a scope above the exact size is searched), the same ranking, and the index
    # is kept on disk and extended with new faces rather than rebuilt.
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    assert faces_like(jobs=[job], query=FaceQuery.of_face(astronaut), limit=50) == ranked
    recogniser = astronaut.result.params["recogniser_sha256"]
    files = sorted(p.name for p in (faceindex.settings.FACE_INDEX_ROOT).iterdir())
    assert files == [f"{recogniser}.faiss", f"{recogniser}.json", f"{recogniser}.lock"]
