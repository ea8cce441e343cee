"""Case writes keep every case led: a case's last lead is neither lowered nor removed, the job page's sharing manages
examiners and reviewers only, and a case's row lock orders its member changes and the jobs added to it. A single
job's own case holds that job and its reruns only."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from audit.models import AuditEvent
from cases.models import Case
from cases.selectors import cases_for_work
from cases.services import (
    CaseManageRefused,
    CaseRefused,
    case_create,
    case_member_remove,
    case_member_set,
    case_update,
)
from jobs import services
from jobs.access import JobAction, job_permissions
from jobs.lifecycle import StartOutcome
from jobs.models import Job
from jobs.services import CaseRefusedForJob, ShareRefused, job_create, job_owner_set, job_rerun, job_share, job_unshare
from tests.support.locking import while_held


def user(name: str):
    return get_user_model().objects.create_user(username=name, email=f"{name}@example.org", password="x")


def roles(case: Case) -> dict[str, str]:
    return dict(case.members.values_list("user__username", "role"))


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "phone"
    folder.mkdir()
    return folder


@pytest.mark.django_db
def test_a_case_keeps_a_lead_and_sharing_leaves_leads_alone(source):
    lead, colead, owner = user("lead"), user("colead"), user("owner")
    case = case_create(reference="2024-1", title="t", owner=lead)
    case_member_set(case=case, user=owner, role="examiner")
    job = job_create(name="phone", source_path=source, owner=owner, stages=[], case=case)

    with pytest.raises(CaseRefused, match="case 2024-1 must keep a lead"):
        case_member_set(case=case, user=lead, role="examiner")
    with pytest.raises(CaseRefused, match="case 2024-1 must keep a lead"):
        case_member_remove(case=case, user_id=lead.pk)
    # The job page's sharing neither lowers nor removes a lead, the last one or not.
    case_member_set(case=case, user=colead, role="lead")
    with pytest.raises(ShareRefused, match="they lead case 2024-1"):
        job_share(job=job, user=colead, role="reviewer")
    with pytest.raises(ShareRefused, match="they lead case 2024-1"):
        job_unshare(job=job, user_id=lead.pk)
    assert roles(case) == {"lead": "lead", "colead": "lead", "owner": "examiner"}
    # With another lead there, the cases admin's services lower or remove one.
    case_member_remove(case=case, user_id=colead.pk)
    case_member_set(case=case, user=colead, role="lead")
    case_member_set(case=case, user=lead, role="reviewer")
    assert roles(case) == {"lead": "reviewer", "colead": "lead", "owner": "examiner"}


@pytest.mark.django_db
def test_in_a_case_of_the_lab_the_owner_of_a_job_is_a_member_like_any_other(source):
    lead, owner = user("lead"), user("owner")
    case = case_create(reference="2024-2", title="t", owner=lead)
    case_member_set(case=case, user=owner, role="examiner")
    job = job_create(name="phone", source_path=source, owner=owner, stages=[], case=case)

    job_share(job=job, user=owner, role="reviewer")
    assert roles(case)["owner"] == "reviewer"
    assert job_unshare(job=job, user_id=owner.pk)
    assert "owner" not in roles(case)
    # In the job's own case, its owner is its lead, and sharing leaves them so.
    own = job_create(name="own", source_path=source, owner=owner, stages=[])
    assert not job_unshare(job=own, user_id=owner.pk)
    with pytest.raises(ShareRefused, match="the owner already has every right"):
        job_share(job=own, user=owner, role="reviewer")
    assert roles(own.case) == {"owner": "lead"}


@pytest.mark.django_db
def test_a_single_jobs_own_case_takes_its_reruns_only(source, mocker):
    alice, bob = user("alice"), user("bob")
    first = job_create(name="phone", source_path=source, owner=alice, stages=[])
    assert first.case.reference == f"job-{first.pk}"
    assert first.case not in cases_for_work(user=alice)
    with pytest.raises(CaseRefusedForJob, match=f"case job-{first.pk} is a single job's own"):
        job_create(name="again", source_path=source, owner=alice, stages=[], case=first.case)

    # A rerun joins it; given to bob, the rerun's case (the previous owner's) is bob's to lead.
    Job.objects.filter(pk=first.pk).update(status=Job.Status.COMPLETED)
    first.refresh_from_db()
    mocker.patch.object(services, "job_start", autospec=True, return_value=StartOutcome(StartOutcome.Result.STARTED))
    rerun = job_rerun(job=first)
    assert rerun.case_id == first.case_id
    assert job_owner_set(job=rerun, owner=bob)
    assert job_permissions(job=rerun, user=bob) == frozenset(JobAction)
    assert roles(first.case) == {"alice": "lead", "bob": "lead"}  # alice still owns the first job
    assert Case.objects.get(pk=first.case_id).owner == bob


def _hold_case_then(hold, then) -> None:
    """Run `hold` in a transaction of another connection and, before it commits, `then` here: `hold`'s transaction
    commits once `then` is done or has waited a second."""
    held, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic():
                hold()
                held.set()
                done.wait(1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            held.set()
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        then()
    finally:
        done.set()
        thread.join(10)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_a_member_removed_while_they_add_a_job_adds_none(source):
    lead, examiner = user("lead"), user("examiner")
    case = case_create(reference="2024-3", title="t", owner=lead)
    case_member_set(case=case, user=examiner, role="examiner")
    refused: list[Exception] = []

    def add() -> None:
        try:
            job_create(name="phone", source_path=source, owner=examiner, stages=[], case=case)
        except CaseRefusedForJob as exc:
            refused.append(exc)

    _hold_case_then(lambda: case_member_remove(case=case, user_id=examiner.pk), add)
    assert refused
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_case_made_meanwhile_under_the_same_reference_is_a_clear_refusal():
    alice, bob = user("alice"), user("bob")
    made = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                case_create(reference="2024-4", title="first", owner=alice)
                made.set()
                threading.Event().wait(1)  # the second waits on the reference's unique index meanwhile
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            made.set()
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    made.wait(10)
    with transaction.atomic():
        # Its check for the reference does not see the first case (not committed yet): the insert waits for it.
        with pytest.raises(CaseRefused, match="case 2024-4 exists already"):
            case_create(reference="2024-4", title="second", owner=bob)
        assert Case.objects.count() == 1  # the transaction goes on, and sees the first's case
    thread.join(10)
    assert not errors, errors
    assert AuditEvent.objects.filter(action="case.create").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["add a lead", "remove a member", "rename"])
def test_a_lead_lowered_while_they_change_the_case_changes_nothing(change):
    """Bob, a lead, changes the case while Alice makes him an examiner: his change waits for hers and, once it
    commits, is refused (he may no longer manage the case) and recorded as a refusal."""
    alice, bob, carol, dave = user("alice"), user("bob"), user("carol"), user("dave")
    case = case_create(reference="2024-5", title="t", owner=alice)
    case_member_set(case=case, user=bob, role="lead")
    case_member_set(case=case, user=carol, role="examiner")
    changes = {
        "add a lead": lambda: case_member_set(case=case, user=dave, role="lead", by=bob),
        "remove a member": lambda: case_member_remove(case=case, user_id=carol.pk, by=bob),
        "rename": lambda: case_update(case=Case(pk=case.pk, reference=case.reference, title="Mine"), fields=["title"],
                                      by=bob),
    }  # fmt: skip
    before = AuditEvent.objects.filter(outcome="ok").count()

    with pytest.raises(CaseManageRefused, match="may not manage case 2024-5"):
        while_held(lambda: case_member_set(case=case, user=bob, role="examiner", by=alice), changes[change])

    assert roles(case) == {"alice": "lead", "bob": "examiner", "carol": "examiner"}
    assert Case.objects.get(pk=case.pk).title == "t"
    assert AuditEvent.objects.filter(outcome="ok").count() == before + 1  # Alice's change alone
    action = {"add a lead": "case.member.set", "remove a member": "case.member.remove", "rename": "case.update"}[change]
    refused = AuditEvent.objects.get(outcome="refused")
    assert (refused.action, refused.target) == (action, "2024-5")


@pytest.mark.django_db
def test_a_change_by_a_lead_or_staff_is_made_and_by_anyone_else_refused():
    alice, bob, erin = user("alice"), user("bob"), user("erin")
    erin.is_staff = True
    erin.save(update_fields=["is_staff"])
    case = case_create(reference="2024-6", title="t", owner=alice)
    case_member_set(case=case, user=bob, role="examiner", by=alice)
    with pytest.raises(CaseManageRefused):
        case_member_set(case=case, user=bob, role="lead", by=bob)
    case_member_set(case=case, user=bob, role="reviewer", by=erin)
    assert roles(case) == {"alice": "lead", "bob": "reviewer"}
    assert list(AuditEvent.objects.filter(outcome="refused").values_list("action", "target")) == [
        ("case.member.set", "2024-6")
    ]  # fmt: skip
