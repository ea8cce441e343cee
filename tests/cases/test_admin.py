"""The cases admin goes through the case services: an edit or a deletion is audited, each member removed with it as
any removal is, and a change that would leave a case with no lead is a form error (in the jobs admin too)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case, CaseMember
from cases.services import case_create, case_member_set
from jobs.models import Job
from jobs.services import job_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    users = get_user_model().objects
    lead = users.create_user(username="lead", email="lead@example.org", password="x")
    case = case_create(reference="2024-9", title="Op. Example", owner=lead)
    case_member_set(case=case, user=users.create_user(username="ex", email="ex@example.org"), role="examiner")
    return case


def change_form(case: Case, **roles: str) -> dict[str, str]:
    """The case's change form as posted, each member with the role given by username (DELETE: removed)."""
    members = list(case.members.select_related("user"))
    data = {
        "title": "Op. Renamed", "description": "moved to the second floor",
        "members-TOTAL_FORMS": str(len(members)), "members-INITIAL_FORMS": str(len(members)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, member in enumerate(members):
        role = roles.get(member.user.username, member.role)
        data |= {f"members-{i}-id": str(member.pk), f"members-{i}-case": str(case.pk),
                 f"members-{i}-user": str(member.user_id), f"members-{i}-role": role}  # fmt: skip
        if role == "DELETE":
            data |= {f"members-{i}-role": member.role, f"members-{i}-DELETE": "on"}
    return data


def test_an_edit_is_audited_and_the_last_lead_stays(admin_client, case):
    url = reverse("admin:cases_case_change", args=[case.pk])
    for change in ({"lead": "reviewer"}, {"lead": "DELETE"}):
        refused = admin_client.post(url, change_form(case, **change))
        assert refused.status_code == 200
        assert "A case must keep a lead" in refused.text
        assert dict(case.members.values_list("user__username", "role")) == {"lead": "lead", "ex": "examiner"}
    # Another lead named in the same form: the lead is lowered.
    assert admin_client.post(url, change_form(case, lead="reviewer", ex="lead")).status_code == 302
    assert dict(case.members.values_list("user__username", "role")) == {"lead": "reviewer", "ex": "lead"}
    case.refresh_from_db()
    assert (case.title, case.description) == ("Op. Renamed", "moved to the second floor")
    update = AuditEvent.objects.get(action="case.update")
    assert (update.target, update.detail) == ("2024-9", "title, description")


def test_the_last_lead_of_a_membership_page_stays(admin_client, case):
    member = case.members.get(role="lead")
    url = reverse("admin:cases_casemember_change", args=[member.pk])
    data = {"case": case.pk, "user": member.user_id, "role": "examiner"}
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "A case must keep a lead" in refused.text
    admin_client.post(reverse("admin:cases_casemember_delete", args=[member.pk]), {"post": "yes"})
    assert CaseMember.objects.filter(pk=member.pk, role="lead").exists()


def test_a_deleted_case_removes_each_member_on_the_record(admin_client, case):
    assert admin_client.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"}).status_code == 302
    assert not Case.objects.exists()
    assert not CaseMember.objects.exists()
    records = AuditEvent.objects.filter(action__in=["case.member.remove", "case.delete"]).order_by("id")
    assert [(e.action, e.target, e.detail) for e in records] == [
        ("case.member.remove", "2024-9", "the case was deleted"),
        ("case.member.remove", "2024-9", "the case was deleted"),
        ("case.delete", "2024-9", ""),
    ]


def test_a_job_alone_in_its_case_is_not_given_to_nobody(admin_client, tmp_path):
    alice = get_user_model().objects.create_user(username="alice", email="alice@example.org")
    job = job_create(name="phone", source_path=tmp_path, owner=alice, stages=[])
    form = {"name": job.name, "description": "", "exhibit": "", "owner": ""}
    refused = admin_client.post(reverse("admin:jobs_job_change", args=[job.pk]), form)
    assert refused.status_code == 200
    assert "The job&#x27;s own case needs a lead" in refused.text
    assert Job.objects.get(pk=job.pk).owner == alice
    assert list(job.case.members.values_list("user", "role")) == [(alice.pk, "lead")]
