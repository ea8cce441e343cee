"""Find this face: a case's faces ranked by likeness to a face of the image panel or of a reference photo, with the
real default face pack (YuNet + SFace) on real photographs and augmented copies of them."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image as Picture
from playwright.sync_api import expect

from audit.models import AuditEvent
from cases.models import CaseMember
from content.models import Face, Image, StageResult
from jobs import faceindex, search
from jobs.search import FaceQuery, faces_like
from tests.support.facesearch import jpeg, photo, store_real_faces, write_face_case
from tests.support.web import sign_in_browser

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


def _bobs_case(scan, other, sources_root):
    """Bob's own case: two copies of the astronaut that Alice's case does not hold (other bytes, other images)."""
    folder = sources_root / "bob-faces"
    folder.mkdir()
    astronaut = photo("people/astronaut.png")
    (folder / "a.jpg").write_bytes(jpeg(astronaut, quality=60))
    (folder / "b.jpg").write_bytes(jpeg(astronaut.transpose(Picture.Transpose.FLIP_LEFT_RIGHT), quality=65))
    job = scan(other, name="bob-faces")
    store_real_faces(job)
    return job


def _found(response) -> list[int]:
    assert response.status_code == 200, response.text[:500]
    return [int(v) for v in re.findall(r'data-face="(\d+)" data-testid="facesearch-match"', response.text)]


def test_find_this_face_over_the_web_never_shows_a_case_the_user_is_not_in(
    face_case, scan, examiner, other, sources_root, client_for
):
    alices, bobs = face_case, _bobs_case(scan, other, sources_root)
    alice, bob = client_for(examiner), client_for(other)
    [astronaut] = _faces_of(alices, "astronaut.png")
    alice_same = {f.pk for name in ("astronaut-mirrored.png", "astronaut-darker.jpg") for f in _faces_of(alices, name)}
    [bob_a], [bob_b] = _faces_of(bobs, "a.jpg"), _faces_of(bobs, "b.jpg")
    url = reverse("jobs:face_search", args=[alices.pk])

    # The panel offers it on each face.
    panel = alice.get(reverse("jobs:image", args=[alices.pk, astronaut.image_id]))
    assert f"{url}?face={astronaut.pk}" in panel.text
    # Her case, then every job she may see: never Bob's faces, though they are the same person.
    assert set(_found(alice.get(url, {"face": astronaut.pk}))) == alice_same
    assert set(_found(alice.get(url, {"face": astronaut.pk, "everywhere": "1"}))) == alice_same
    # Bob's search from his face, everywhere: his other copy, none of Alice's.
    assert _found(bob.get(reverse("jobs:face_search", args=[bobs.pk]), {"face": bob_a.pk, "everywhere": "1"})) == [
        bob_b.pk
    ]
    # Naming Alice's face or job gets Bob a 404.
    assert bob.get(reverse("jobs:face_search", args=[bobs.pk]), {"face": astronaut.pk}).status_code == 404
    assert bob.get(url, {"face": astronaut.pk}).status_code == 404
    assert bob.get(reverse("jobs:face_search", args=[bobs.pk]), {"face": "x"}).status_code == 400
    # Once Alice is a member of Bob's case, his faces are hers to find too (everywhere, not in her case alone).
    CaseMember.objects.create(case=bobs.case, user=examiner, role=CaseMember.Role.REVIEWER)
    assert set(_found(alice.get(url, {"face": astronaut.pk}))) == alice_same
    assert set(_found(alice.get(url, {"face": astronaut.pk, "everywhere": "1"}))) == alice_same | {bob_a.pk, bob_b.pk}
    searches = AuditEvent.objects.filter(action="faces.search")
    assert searches.filter(outcome="ok").count() == 5
    assert searches.filter(outcome="refused").count() == 2


def test_a_reference_photo_is_searched_with_and_never_kept(face_case, examiner, client_for, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    job = face_case
    alice = client_for(examiner)
    url = reverse("jobs:face_search", args=[job.pk])
    images, faces, results = Image.objects.count(), Face.objects.count(), StageResult.objects.count()
    astronaut = {
        f.pk for n in ("astronaut.png", "astronaut-mirrored.png", "astronaut-darker.jpg") for f in _faces_of(job, n)
    }

    def upload(data: bytes, name: str = "reference.jpg", **fields: str):
        return alice.post(url, {"photo": SimpleUploadedFile(name, data), **fields})

    astronaut_photo = photo("people/astronaut.png").resize((384, 384))
    assert set(_found(upload(jpeg(astronaut_photo)))) == astronaut
    # Several faces: the answer asks which one, then searches with the chosen one.
    people = jpeg(photo("people/six-people.jpg"))
    asked = upload(people)
    assert asked.status_code == 200
    assert asked.text.count('data-testid="choose-face"') == 6
    # The person is in the case twice: in the photo itself and in its mirror image.
    first = Face.objects.filter(pk__in=_found(upload(people, choose="0")))
    paths = sorted(first.values_list("image__instances__path", flat=True))
    assert paths == ["six-people-mirrored.png", "six-people.png"]
    # No face, not an image, too large: a clear answer each time.
    no_face = upload(jpeg(photo("objects/coffee.png")))
    assert no_face.status_code == 200
    assert "No face was found in the reference photo." in no_face.text
    pdf = upload(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", name="photo.jpg")
    assert pdf.status_code == 400
    assert "not an image this software opens (application/pdf)" in pdf.text
    large = upload(b"\xff\xd8\xff" + bytes(50 * 2**20), name="huge.jpg")
    assert large.status_code == 400
    assert "the reference photo is 50.0 MB; the most accepted is 20 MB" in large.text
    assert upload(people, choose="9").status_code == 400
    # Nothing of the uploads is kept: no image, face or result rows, no file left behind.
    assert (Image.objects.count(), Face.objects.count(), StageResult.objects.count()) == (images, faces, results)
    assert list((tmp_path / "uploads").iterdir()) == []
    searches = AuditEvent.objects.filter(action="faces.search")
    assert searches.filter(outcome="ok").count() == 3  # two searches and the photo without a face
    assert searches.filter(outcome="refused").count() == 3


def test_manage_py_faces_search_ranks_from_a_face_id_or_a_photo(face_case, tmp_path):
    job = face_case
    [astronaut] = _faces_of(job, "astronaut.png")
    same = {f.pk for name in ("astronaut-mirrored.png", "astronaut-darker.jpg") for f in _faces_of(job, name)}

    def run(*args: str) -> list[str]:
        out = io.StringIO()
        call_command("faces", "search", *args, stdout=out)
        return out.getvalue().splitlines()

    lines = run(str(astronaut.pk), "--case", str(job.case_id))
    assert {int(re.search(r"face (\d+) ", line)[1]) for line in lines} == same
    assert all(line.endswith(f"job {job.pk})  same person") for line in lines)
    assert len(run(str(astronaut.pk), "--job", str(job.pk), "--all", "--top", "5")) == 5
    reference = tmp_path / "reference.jpg"
    reference.write_bytes(jpeg(photo("people/astronaut.png")))
    assert len(run(str(reference), "--job", str(job.pk))) == 3  # the photo itself is in the job
    people = tmp_path / "people.jpg"
    people.write_bytes(jpeg(photo("people/six-people.jpg")))
    with pytest.raises(CommandError, match=r"the photo has 6 faces; choose one with --choose N \(1: "):
        run(str(people))
    assert len(run(str(people), "--choose", "2")) == 2
    (tmp_path / "coffee.jpg").write_bytes(jpeg(photo("objects/coffee.png")))
    with pytest.raises(CommandError, match="no face found in the reference photo"):
        run(str(tmp_path / "coffee.jpg"))
    with pytest.raises(CommandError, match="no such face: 999999999"):
        run("999999999")
    searches = AuditEvent.objects.filter(action="faces.search", via="cli")
    assert searches.filter(outcome="ok").count() == 4
    assert searches.filter(outcome="refused").count() == 3


@pytest.mark.browser
def test_in_the_browser_a_photo_with_several_faces_asks_which_one_and_keeps_the_photo(
    face_case, asgi_server, examiner, page, real_models, tmp_path
):
    job = face_case
    [astronaut] = _faces_of(job, "astronaut.png")
    server = asgi_server(MODELS_ROOT=str(real_models), FACE_INDEX_ROOT=str(tmp_path / "web-indexes"))
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{job.pk}/faces/search?face={astronaut.pk}")
    expect(page.get_by_test_id("facesearch-match")).to_have_count(2)
    page.get_by_test_id("everywhere").check()
    expect(page).to_have_url(re.compile(r"everywhere=1"))
    expect(page.get_by_test_id("facesearch-match")).to_have_count(2)

    people = tmp_path / "people.jpg"
    people.write_bytes(jpeg(photo("people/six-people.jpg")))
    page.get_by_test_id("reference-photo").set_input_files(str(people))
    page.get_by_test_id("reference-form").get_by_role("button", name="Search with this photo").click()
    expect(page.get_by_test_id("choose-face")).to_have_count(6)
    page.get_by_test_id("choose-face").nth(2).click()
    expect(page.get_by_test_id("choose-face")).to_have_count(0)
    expect(page.get_by_test_id("facesearch-match")).to_have_count(2)  # the person, and their mirror image
