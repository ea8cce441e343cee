"""Need-to-know for evidence: staff assign sources to cases; only a case's lead and examiners are offered its sources
and may start a job on them (in that case, or in a case of its own); anyone else is answered as for a source that
does not exist, on the record. Staff may scan every source (into a case of their own, or one they lead or examine
in)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, case_source_assign, case_source_unassign
from jobs.models import Job

pytestmark = pytest.mark.django_db

FOLDERS = ("phone", "laptop", "unassigned")


@pytest.fixture
def lab(make_user, examiner, other, sources_root):
    """Case 2024-017 (alice leads, bob examines, carol reviews) has the phone; case 2024-018 (dave leads, bob
    examines) the laptop; nobody's case has the folder "unassigned"; erin is staff."""
    people = {
        "alice": examiner,
        "bob": other,
        "carol": make_user("carol@example.org"),
        "dave": make_user("dave@example.org"),
        "erin": make_user("erin@example.org", staff=True),
    }
    for name in FOLDERS:
        (sources_root / name).mkdir()
    first = case_create(reference="2024-017", title="Op. First", owner=people["alice"])
    second = case_create(reference="2024-018", title="Op. Second", owner=people["dave"])
    case_member_set(case=first, user=people["bob"], role="examiner")
    case_member_set(case=first, user=people["carol"], role="reviewer")
    case_member_set(case=second, user=people["bob"], role="examiner")
    case_source_assign(case=first, name="phone", by=people["erin"])
    case_source_assign(case=second, name="laptop", by=people["erin"])
    return {**people, "first": first, "second": second}


def offered(client) -> set[str]:
    form = client.get(reverse("jobs:new")).text
    return {name for name in FOLDERS if f'value="{name}"' in form}


def create(client, source: str, case=None):
    form = {"name": f"on {source}", "source": source, "stages": ["exif"]}
    return client.post(reverse("jobs:new"), form | ({"case": case.pk} if case else {}))


def test_the_job_form_offers_each_user_the_sources_of_the_cases_they_lead_or_examine_in(lab, client_for):
    assert offered(client_for(lab["alice"])) == {"phone"}
    assert offered(client_for(lab["bob"])) == {"phone", "laptop"}
    assert offered(client_for(lab["dave"])) == {"laptop"}
    assert offered(client_for(lab["erin"])) == set(FOLDERS)
    reviewer = client_for(lab["carol"]).get(reverse("jobs:new")).text
    assert not {name for name in FOLDERS if f'value="{name}"' in reviewer}
    assert "No source is assigned to a case you lead or examine in" in reviewer


def test_a_reviewer_cannot_start_a_job_on_the_cases_source_as_if_it_did_not_exist_on_the_record(lab, client_for):
    carol = client_for(lab["carol"])
    answers = {source: create(carol, source) for source in ("phone", "no-such-folder")}
    for source, answer in answers.items():
        assert answer.status_code == 200
        assert f"no source &#x27;{source}&#x27;: choose one of the sources listed" in answer.text
    assert not Job.objects.exists()
    refused = AuditEvent.objects.filter(user_id=lab["carol"].pk, action="job.create", outcome="refused")
    assert [(e.data["source"], e.detail) for e in refused.order_by("id")] == [
        ("phone", "no source 'phone': choose one of the sources listed"),
        ("no-such-folder", "no source 'no-such-folder': choose one of the sources listed"),
    ]


def test_an_examiner_scans_a_cases_source_into_that_case_only(lab, client_for):
    bob, dave = client_for(lab["bob"]), client_for(lab["dave"])
    # The laptop is the second case's: not into the first case, nor the phone into the second; dave has no phone.
    wrong_case = create(bob, "laptop", lab["first"])
    assert wrong_case.status_code == 200
    assert "source &#x27;laptop&#x27; is not assigned to case 2024-017" in wrong_case.text  # he may see it is his
    assert create(bob, "phone", lab["second"]).status_code == 200
    assert create(dave, "phone").status_code == 200
    assert create(dave, "phone", lab["second"]).status_code == 200
    assert not Job.objects.exists()
    refused = AuditEvent.objects.filter(action="job.create", outcome="refused")
    assert sorted((e.user_id, e.data["source"], e.data["case"]) for e in refused) == sorted([
        (lab["bob"].pk, "laptop", "2024-017"),
        (lab["bob"].pk, "phone", "2024-018"),
        (lab["dave"].pk, "phone", ""),
        (lab["dave"].pk, "phone", "2024-018"),
    ])  # fmt: skip

    assert create(bob, "laptop", lab["second"]).status_code == 302
    # No case chosen: the job goes in the case that holds the source, never in a case of its own (which would make
    # him its lead, free to download and share evidence he only examines).
    assert create(bob, "phone").status_code == 302
    made = {job.source_path.rsplit("/", 1)[-1]: job.case.reference for job in Job.objects.select_related("case")}
    assert made == {"laptop": "2024-018", "phone": "2024-017"}


def test_staff_scan_any_source_into_a_case_of_their_own_or_one_they_work_in(lab, client_for):
    erin = client_for(lab["erin"])
    assert create(erin, "unassigned").status_code == 302
    case_member_set(case=lab["first"], user=lab["erin"], role="examiner")
    assert create(erin, "laptop", lab["first"]).status_code == 302
    made = dict(Job.objects.values_list("name", "case__reference"))
    assert made["on laptop"] == "2024-017"
    assert made["on unassigned"].startswith("job-")
    # Taking a source back leaves the jobs made on it, and offers it no more.
    alice = client_for(lab["alice"])
    assert create(alice, "phone", lab["first"]).status_code == 302
    assert case_source_unassign(case=lab["first"], name="phone", by=lab["erin"])
    assert offered(alice) == set()
    assert create(alice, "phone", lab["first"]).status_code == 200
    assert Job.objects.count() == 3
