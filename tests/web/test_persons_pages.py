"""The persons over the web: the strip on the case page and in the gallery (largest first, a face each), the
gallery filtered by a person, and a person's page with its corrections for the lead and examiners; a reviewer
reads only (403, audited); a case the user is not in, and a person or face of another case, are 404 and never
shown."""

from __future__ import annotations

import re

from django.urls import reverse

from audit.models import AuditEvent
from persons.models import FaceAssignment, Person
from persons.selectors import person_settings_shown


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


def test_the_case_lead_sets_the_clustering_settings_and_bad_values_are_400(lab, examiner, other, client_for):
    case, alice, carol = lab["case"], client_for(examiner), client_for(lab["carol"])
    url = reverse("casework:persons_settings", args=[case.pk])
    detail = alice.get(reverse("casework:detail", args=[case.pk])).content.decode()
    assert 'data-testid="persons-settings"' in detail
    assert (
        'data-testid="persons-settings"' not in carol.get(reverse("casework:detail", args=[case.pk])).content.decode()
    )
    assert alice.post(url, {"min_faces": "4", "max_distance": "0.35"}).status_code == 302
    assert person_settings_shown(case_id=case.pk) == (4, 0.35)
    assert 'value="0.35"' in alice.get(reverse("casework:detail", args=[case.pk])).content.decode()
    assert AuditEvent.objects.filter(action="persons.settings", outcome="ok").count() == 1
    for bad in (
        {"min_faces": "1", "max_distance": "0.3"},
        {"min_faces": "x", "max_distance": "0.3"},
        {"min_faces": "٣", "max_distance": "0.3"},
        {"min_faces": "3", "max_distance": "nan"},
        {"min_faces": "3", "max_distance": "inf"},
        {"min_faces": "3", "max_distance": "2.5"},
        {"min_faces": "3", "max_distance": "1e999"},
        {"min_faces": "9" * 30, "max_distance": "0.3"},
        {"min_faces": "3"},
        {},
    ):
        response = alice.post(url, bad)
        assert response.status_code == 400, bad
    assert AuditEvent.objects.filter(action="persons.settings", outcome="refused").count() == 10
    assert person_settings_shown(case_id=case.pk) == (4, 0.35)
    assert carol.post(url, {"min_faces": "3", "max_distance": "0.3"}).status_code == 403  # a reviewer
    assert client_for(other).post(url, {"min_faces": "3", "max_distance": "0.3"}).status_code == 404
    assert person_settings_shown(case_id=case.pk) == (4, 0.35)
