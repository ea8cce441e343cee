"""Who may see or change a job: the role a user has on it (staff, or their role in the job's case), what each role
may do, and the jobs a user may see. The one place for tenancy: views, consumers, the API and forms ask here, never
decide."""

from __future__ import annotations

import enum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, IntegerField, OuterRef, QuerySet, Subquery, Value

from cases.models import Case, CaseMember
from cases.selectors import case_role
from jobs.models import Job
from review.selectors import review_role

User = AbstractBaseUser | AnonymousUser


class JobAction(enum.StrEnum):
    """What a user wants to do with a job. Staff and the lead of the job's case may do everything; an examiner may
    VIEW and CHANGE, a reviewer only VIEW; only the lead and staff decide who is a member (share) or delete a job."""

    VIEW = "view"
    CHANGE = "change"  # start, cancel, rerun
    SHARE = "share"
    DELETE = "delete"


def verified_address_owners(*, email: str) -> QuerySet[AbstractBaseUser]:
    """The accounts (active or not) that verified the address `email` (any case). The one rule for addresses: only a
    verified address names a user; anyone may add any address to their account, and until its owner follows the
    link sent to it, it is only a claim."""
    return get_user_model().objects.filter(emailaddress__email__iexact=email, emailaddress__verified=True).distinct()


def share_recipient(*, email: str) -> AbstractBaseUser | None:
    """The active user whose verified address `email` is (any case), else None."""
    users = list(verified_address_owners(email=email).filter(is_active=True)[:2])
    return users[0] if len(users) == 1 else None


ROLE_ACTIONS: dict[str, frozenset[JobAction]] = {
    "staff": frozenset(JobAction),
    CaseMember.Role.LEAD: frozenset(JobAction),
    CaseMember.Role.EXAMINER: frozenset({JobAction.VIEW, JobAction.CHANGE}),
    CaseMember.Role.REVIEWER: frozenset({JobAction.VIEW}),
}


def _role(job: Job, user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return "staff"
    if getattr(job, "viewer_id", None) == user.pk:  # listed for this user: the role came with the row
        return job.viewer_role
    return case_role(case_id=job.case_id, user=user)


def job_permissions(*, job: Job, user: User) -> frozenset[JobAction]:
    return ROLE_ACTIONS.get(_role(job, user) or "", frozenset())


def job_list_for_user(*, user: User) -> QuerySet[Job]:
    """The jobs a user may see: those of the cases they are a member of, each with the user's role in its case
    (`viewer_role`, for `viewer_id`: job_permissions reads it instead of asking once per job); staff see every
    job."""
    if not user.is_authenticated or not user.is_active:
        return Job.objects.none()
    jobs = Job.objects.select_related("owner", "case")
    if user.is_staff:
        return jobs
    membership = CaseMember.objects.filter(case=OuterRef("case_id"), user=user)
    return jobs.filter(Exists(membership)).annotate(
        viewer_role=Subquery(membership.values("role")[:1]), viewer_id=Value(user.pk, output_field=IntegerField())
    )


def job_get_for_user(*, user: User, job_id: int, action: JobAction = JobAction.VIEW) -> Job:
    """The job, if the user may see it. Raises Job.DoesNotExist when the user may not see it (so that its existence
    is not disclosed) and PermissionDenied when they may see it but not do `action`."""
    job = job_list_for_user(user=user).get(pk=job_id)
    if action not in job_permissions(job=job, user=user):
        raise PermissionDenied(f"you may not {action} this job")
    return job


def case_list_for_user(*, user: User) -> QuerySet[Case]:
    """The cases a user may see: those they are a member of; staff see every case."""
    if not user.is_authenticated or not user.is_active:
        return Case.objects.none()
    cases = Case.objects.select_related("owner", "scheme")
    return cases if user.is_staff else cases.filter(members__user=user)


def case_get_for_user(
    *, user: User, case_id: int | None = None, reference: str = "", action: JobAction = JobAction.VIEW
) -> tuple[Case, str]:
    """The case (by id, or else by reference) and the user's role in it ("staff" or their role), if the user may
    see it. Raises Case.DoesNotExist when they may not (so that its existence is not disclosed) and PermissionDenied
    when they may see it but not do `action` with it (SHARE: decide who is a member, as for its jobs)."""
    cases = case_list_for_user(user=user)
    case = cases.get(pk=case_id) if case_id is not None else cases.get(reference=reference.strip())
    role = review_role(case=case, user=user) or ""
    if action not in ROLE_ACTIONS.get(role, frozenset()):
        raise PermissionDenied(f"you may not {action} case {case.reference}")
    return case, role
