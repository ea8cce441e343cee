"""Staff assign sources to cases, in the admin or through the services, on the record; nobody else may, and a name
that is no top-level folder name is refused."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import CaseSource
from cases.services import CaseRefused, case_create, case_source_assign, case_source_unassign

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    lead = get_user_model().objects.create_user(username="lead", email="lead@example.org")
    return case_create(reference="2024-9", title="Op. Example", owner=lead)


def test_only_staff_assign_a_source_and_the_others_are_refused_on_the_record(case):
    staff = get_user_model().objects.create_user(username="staff", email="staff@example.org", is_staff=True)
    for by in (case.owner, get_user_model().objects.create_user(username="gone", is_staff=True, is_active=False)):
        with pytest.raises(CaseRefused, match="only staff assign sources to cases"):
            case_source_assign(case=case, name="phone", by=by)
        with pytest.raises(CaseRefused, match="only staff assign sources to cases"):
            case_source_unassign(case=case, name="phone", by=by)
    assert not CaseSource.objects.exists()
    refused = AuditEvent.objects.filter(outcome="refused").order_by("id")
    assert [(e.action, e.target, e.detail) for e in refused] == [
        ("case.source.assign", "2024-9", "phone"),
        ("case.source.unassign", "2024-9", "phone"),
    ] * 2

    source = case_source_assign(case=case, name="phone", by=staff)
    assert (source.case, source.name, source.assigned_by) == (case, "phone", staff)
    assert case_source_assign(case=case, name="phone", by=staff) == source  # once: the second changes nothing
    for name in ("", ".", "..", ".hidden", "a/b", "../phone", "x\x00", "x" * 256):
        with pytest.raises(CaseRefused, match="one folder of the sources folder"):
            case_source_assign(case=case, name=name, by=staff)
    assert case_source_unassign(case=case, name="phone", by=staff)
    assert not case_source_unassign(case=case, name="phone", by=staff)
    done = AuditEvent.objects.filter(outcome="ok", action__startswith="case.source").order_by("id")
    assert [(e.action, e.target, e.detail) for e in done] == [
        ("case.source.assign", "2024-9", "phone"),
        ("case.source.unassign", "2024-9", "phone"),
    ]


def test_the_admin_assigns_and_takes_back_through_the_services(admin_client, admin_user, case):
    add = reverse("admin:cases_casesource_add")
    refused = admin_client.post(add, {"case": case.pk, "name": "../phone"})
    assert refused.status_code == 200
    assert "one folder of the sources folder" in refused.text
    assert admin_client.post(add, {"case": case.pk, "name": "phone"}).status_code == 302
    source = CaseSource.objects.get()
    assert (source.case, source.name, source.assigned_by) == (case, "phone", admin_user)
    twice = admin_client.post(add, {"case": case.pk, "name": "phone"})
    assert twice.status_code == 200  # the form says the case has it already
    assert CaseSource.objects.count() == 1
    # Made or taken back, never changed: the change page changes nothing.
    change = reverse("admin:cases_casesource_change", args=[source.pk])
    admin_client.post(change, {"case": case.pk, "name": "laptop"})
    assert CaseSource.objects.get().name == "phone"
    delete = reverse("admin:cases_casesource_delete", args=[source.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not CaseSource.objects.exists()
    records = AuditEvent.objects.filter(action__startswith="case.source").order_by("id")
    assert [(e.action, e.outcome, e.target, e.detail, e.user_id) for e in records] == [
        ("case.source.assign", "ok", "2024-9", "phone", admin_user.pk),
        ("case.source.unassign", "ok", "2024-9", "phone", admin_user.pk),
    ]
