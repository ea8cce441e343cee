"""Account writes for the staff's users page."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from audit.services import audit_record, user_label
from jobs.models import Job, JobShare
from jobs.progress import access_revoked

logger = logging.getLogger(__name__)


class UserChangeRefused(ValueError):
    """The change would lock out the acting staff member or a superuser."""


def _check(*, user: AbstractUser, by: AbstractUser) -> None:
    if user.pk == by.pk:
        raise UserChangeRefused("you cannot deactivate or delete your own account")
    if user.is_superuser and not by.is_superuser:
        raise UserChangeRefused("only a superuser may deactivate or delete a superuser")


def user_set_active(*, user: AbstractUser, active: bool, by: AbstractUser) -> None:
    """Deactivate (or reactivate) an account. A deactivated user can no longer sign in; their jobs, and the jobs
    shared with them, stay as they are; their open live-progress sockets close once a deactivation commits."""
    _check(user=user, by=by)
    user.is_active = active
    with transaction.atomic():
        user.save(update_fields=["is_active"])
        audit_record("user.activate" if active else "user.deactivate", target=user_label(user))
        if not active:
            access_revoked(user.pk)
    logger.info("user %s %s by user %s", user.pk, "reactivated" if active else "deactivated", by.pk)


def user_delete(*, user: AbstractUser, by: AbstractUser) -> int:
    """Delete an account. Evidence results are never lost with it: the jobs it owned pass to the staff member who
    deletes it (who can share or delete them afterwards), and the shares it held are removed; its open
    live-progress sockets close once this commits. Returns the number of jobs transferred."""
    _check(user=user, by=by)
    user_id, label = user.pk, user_label(user)
    with transaction.atomic():
        owned = list(Job.objects.filter(owner=user).values_list("pk", "name"))
        shared = list(JobShare.objects.filter(user=user).values_list("job_id", flat=True))
        moved = Job.objects.filter(owner=user).update(owner=by)
        user.delete()
        # Each job's own history says what became of it.
        for job_id, name in owned:
            audit_record("job.owner", job_id=job_id, target=name, detail=f"{label} deleted: now {user_label(by)}'s")
        for job_id in shared:
            audit_record("job.unshare", job_id=job_id, target=label, detail="the account was deleted")
        audit_record("user.delete", target=label, jobs_transferred=moved)
        access_revoked(user_id)
    logger.info("user %s deleted by user %s; %s jobs transferred to them", user_id, by.pk, moved)
    return moved
