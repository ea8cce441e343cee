"""Who may see or change a job: the roles a user has on it (owner, staff, a share), what each role may do, and the
jobs a user may see. The one place for tenancy: views, consumers, the API and forms ask here, never decide."""

from __future__ import annotations

import enum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet

from jobs.models import Job, JobShare

User = AbstractBaseUser | AnonymousUser


class JobAction(enum.StrEnum):
    """What a user wants to do with a job. Owner and staff may do everything; a share grants VIEW (reviewer) or
    VIEW and CHANGE (full); only the owner and staff decide who a job is shared with."""

    VIEW = "view"
    CHANGE = "change"  # start, cancel, delete
    SHARE = "share"


def verified_address_owners(*, email: str) -> QuerySet[AbstractBaseUser]:
    """The accounts (active or not) that verified the address `email` (any case). The one rule for addresses: only a
    verified address names a user; anyone may add any address to their account, and until its owner follows the
    link sent to it, it is only a claim."""
    return get_user_model().objects.filter(emailaddress__email__iexact=email, emailaddress__verified=True).distinct()


def share_recipient(*, email: str) -> AbstractBaseUser | None:
    """The active user whose verified address `email` is (any case), else None."""
    users = list(verified_address_owners(email=email).filter(is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def _role(job: Job, user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return "staff"
    if job.owner_id == user.pk:
        return "owner"
    return JobShare.objects.filter(job=job, user=user).values_list("role", flat=True).first()


def job_permissions(*, job: Job, user: User) -> frozenset[JobAction]:
    role = _role(job, user)
    if role in ("staff", "owner"):
        return frozenset(JobAction)
    if role == JobShare.Role.FULL:
        return frozenset({JobAction.VIEW, JobAction.CHANGE})
    if role == JobShare.Role.REVIEWER:
        return frozenset({JobAction.VIEW})
    return frozenset()


def job_list_for_user(*, user: User) -> QuerySet[Job]:
    """The jobs a user may see: their own, the ones shared with them; staff see every job."""
    if not user.is_authenticated or not user.is_active:
        return Job.objects.none()
    jobs = Job.objects.select_related("owner")
    if user.is_staff:
        return jobs
    return jobs.filter(Q(owner=user) | Exists(JobShare.objects.filter(job=OuterRef("pk"), user=user)))


def job_get_for_user(*, user: User, job_id: int, action: JobAction = JobAction.VIEW) -> Job:
    """The job, if the user may see it. Raises Job.DoesNotExist when the user may not see it (so that its existence
    is not disclosed) and PermissionDenied when they may see it but not do `action`."""
    job = job_list_for_user(user=user).get(pk=job_id)
    if action not in job_permissions(job=job, user=user):
        raise PermissionDenied(f"you may not {action} this job")
    return job
