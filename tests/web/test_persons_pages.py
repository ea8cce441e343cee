"""The persons over the web: the strip on the case page and in the gallery (largest first, a face each), the
gallery filtered by a person, and a person's page with its corrections for the lead and examiners; a reviewer
reads only (403, audited); a case the user is not in, and a person or face of another case, are 404 and never
shown."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.services import case_create, case_member_set
from jobs.models import Job
from jobs.pipeline.persons import persons_run
from persons.models import FaceAssignment, Person
from tests.support.persons import faces_of, identities, store_faces


@pytest.fixture
def lab(examiner, other, make_user, tmp_path):
    """Case 2024-017 of alice (lead) with carol its reviewer: a job whose images show two persons (4 and 3 faces).
    Case 2024-099 of bob: one person of 3 faces."""
    carol = make_user("carol@example.org")
    case = case_create(reference="2024-017", title="t", owner=examiner)
    case_member_set(case=case, user=carol, role="reviewer")
    ids = identities(3, seed=11)
    rows = np.concatenate([faces_of(ids[0], 4, seed=1), faces_of(ids[1], 3, seed=2)])
    faces = store_faces(case=case, owner=examiner, source=tmp_path, vectors=rows, first=1)
    theirs = case_create(reference="2024-099", title="other", owner=other)
    foreign = store_faces(case=theirs, owner=other, source=tmp_path, vectors=faces_of(ids[2], 3), first=40)
    persons_run(case_id=case.pk)
    persons_run(case_id=theirs.pk)
    big, small = (FaceAssignment.objects.get(face_id=faces[i]).person_id for i in (0, 4))
    return {"case": case, "carol": carol, "faces": faces, "big": big, "small": small, "foreign_faces": foreign,
            "foreign": Person.objects.get(case=theirs).pk, "job": Job.objects.get(case=case)}  # fmt: skip


def strip(html: str) -> list[int]:
    section = html.split('data-testid="persons"', 1)[1].split("</nav>", 1)[0]
    return [int(n) for n in re.findall(r'data-person="(\d+)"', section)]


def test_the_strip_the_gallery_filter_and_the_person_page(lab, examiner, client_for):
    case, alice = lab["case"], client_for(examiner)
    detail = alice.get(reverse("casework:detail", args=[case.pk])).content.decode()
    assert strip(detail) == [lab["big"], lab["small"]]
    gallery = alice.get(reverse("jobs:gallery", args=[lab["job"].pk]), {"person": lab["small"]})
    assert gallery.status_code == 200
    html = gallery.content.decode()
    assert strip(html) == [lab["big"], lab["small"]]
    shown_images = set(map(int, re.findall(r'data-image="(\d+)"', html)))
    assert shown_images == set(
        FaceAssignment.objects.filter(person_id=lab["small"]).values_list("face__image_id", flat=True)
    )
    crop = alice.get(reverse("casework:face_crop", args=[case.pk, lab["faces"][0]]))
    assert (crop.status_code, crop.content) == (200, b"crop")

    page = reverse("casework:person", args=[case.pk, lab["big"]])
    change = reverse("casework:person_change", args=[case.pk, lab["big"]])
    assert alice.post(change, {"action": "name", "name": "<b>Suspect</b>"}).status_code == 302
    shown = alice.get(page).content.decode()
    assert "&lt;b&gt;Suspect&lt;/b&gt;" in shown
    assert "<b>Suspect" not in shown
    assert alice.post(change, {"action": "reject", "faces": [str(lab["faces"][0])]}).status_code == 302
    split = alice.post(change, {"action": "split", "faces": [str(lab["faces"][1])]})
    assert split.status_code == 302
    assert alice.post(change, {"action": "merge", "other": str(lab["small"])}).status_code == 302
    history = re.findall(r'data-action="(\w+)"', alice.get(page).content.decode())
    assert history == ["created", "created", "named", "rejected", "split", "merged"]  # the merged one's too
    assert Person.objects.get(pk=lab["big"]).face_count == 2 + 3
    for bad in ({"action": "split", "faces": ["x"]}, {"action": "merge", "other": "-1"}, {"action": "fly"}):
        assert alice.post(change, bad).status_code == 400
    assert alice.get(reverse("jobs:gallery", args=[lab["job"].pk]), {"person": "1x"}).status_code == 400


def test_a_reviewer_reads_only_and_an_outsider_sees_nothing(lab, examiner, other, client_for):
    case, carol, bob = lab["case"], client_for(lab["carol"]), client_for(other)
    page = reverse("casework:person", args=[case.pk, lab["big"]])
    change = reverse("casework:person_change", args=[case.pk, lab["big"]])
    shown = carol.get(page)
    assert shown.status_code == 200
    assert 'data-testid="person-forms"' not in shown.content.decode()
    assert carol.post(change, {"action": "name", "name": "x"}).status_code == 403
    assert AuditEvent.objects.filter(action="persons.name", outcome="refused").count() == 1
    for url in (page, reverse("casework:face_crop", args=[case.pk, lab["faces"][0]])):
        assert bob.get(url).status_code == 404
    assert bob.post(change, {"action": "name", "name": "x"}).status_code == 404
    alice = client_for(examiner)
    assert alice.get(reverse("casework:person", args=[case.pk, lab["foreign"]])).status_code == 404
    assert alice.get(reverse("casework:face_crop", args=[case.pk, lab["foreign_faces"][0]])).status_code == 404
    gallery = alice.get(reverse("jobs:gallery", args=[lab["job"].pk]), {"person": lab["foreign"]}).content.decode()
    assert lab["foreign"] not in strip(gallery)
    assert 'data-image="' not in gallery  # no image of this case shows another case's person
    assert Person.objects.get(pk=lab["big"]).name == ""
