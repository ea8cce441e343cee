"""Account writes for the staff's users page and the Django admin: invite, deactivate / reactivate, save an edited
account, delete. Whatever removes a right (active, staff, superuser) or the account itself tells the user's open
live-progress sockets (`access_revoked`) from here."""

from __future__ import annotations

import logging

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from audit.services import audit_record, user_label
from cases.models import CaseMember
from cases.selectors import case_memberships
from cases.services import case_member_remove, case_member_set
from jobs.access import verified_address_owners
from jobs.models import Job
from jobs.progress.publisher import access_revoked
from jobs.services import job_owner_set

logger = logging.getLogger(__name__)


class UserChangeRefused(ValueError):
    """The change would lock out the acting staff member or a superuser."""


class InviteRefused(ValueError):
    """An account has verified the address already."""


def user_invite(*, email: str, by: AbstractUser, site_url: str) -> AbstractUser:
    """Create an account for `email` with no usable password, and mail it a link to set one (under `site_url`, the
    web app's address as the invitee reaches it). The address is not verified by the invitation: the invitee
    verifies it at their first sign-in, like anyone else. Refused (InviteRefused) when an account has the address
    verified; an address another account merely has (added, or its email, but not verified: a claim) does not stop
    it."""
    email = email.strip().lower()
    if verified_address_owners(email=email).exists():
        raise InviteRefused(f"an account already has the address {email}")
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=get_adapter().generate_unique_username([email, "user"]), email=email
        )
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
        audit_record("user.invite", target=user_label(user))
    # The same link as a password reset's: it works once, for PASSWORD_RESET_TIMEOUT seconds.
    key = f"{user_pk_to_url_str(user)}-{allauth_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)}"
    link = site_url.rstrip("/") + reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
    context = {"link": link.replace("UID-KEY", key), "by": by.get_full_name() or by.email, "email": email}
    send_mail(
        render_to_string("accounts/email/invite_subject.txt", context).strip(),
        render_to_string("accounts/email/invite_message.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [email],
    )
    logger.info("user %s invited by user %s", user.pk, by.pk)
    return user


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


# The rights on which what a user may see depends: removing one revokes access.
_RIGHTS = ("is_active", "is_staff", "is_superuser")


def user_save(*, user: AbstractUser) -> None:
    """Save an account edited as a whole (the Django admin's user form; the admin logs the change itself). Once it
    commits, the user's open live-progress sockets check access again if a right they had was removed."""
    with transaction.atomic():
        before = get_user_model().objects.filter(pk=user.pk).values(*_RIGHTS).first()
        user.save()
        if before and any(before[right] and not getattr(user, right) for right in _RIGHTS):
            access_revoked(user.pk)


def user_delete(*, user: AbstractUser, by: AbstractUser) -> int:
    """Delete an account. Evidence results are never lost with it: the jobs it owned pass to the staff member who
    deletes it (who can share or delete them afterwards), so does the lead of each case it was the last lead of, and
    its memberships of cases are removed (`case.member.remove`, once per case); its open live-progress sockets close
    once this commits. Returns the number of jobs transferred."""
    _check(user=user, by=by)
    user_id, label = user.pk, user_label(user)
    with transaction.atomic():
        # The jobs shared with it: those of its cases that it does not own. Its memberships go with the account.
        cases = case_memberships(user=user).values("case_id")
        shared = list(
            Job.objects.filter(case__in=cases).exclude(owner=user).order_by("pk").values_list("pk", flat=True)
        )
        # Each job's own history says what became of it.
        moved = sum(job_owner_set(job=job, owner=by, why=f"{label} deleted") for job in Job.objects.filter(owner=user))
        # A case it was the last lead of passes to the staff member too, as its jobs did: a case keeps a lead.
        for member in case_memberships(user=user).select_related("case").order_by("case_id"):
            other_leads = member.case.members.filter(role=CaseMember.Role.LEAD).exclude(user=user)
            if member.role == CaseMember.Role.LEAD and not other_leads.exists():
                case_member_set(case=member.case, user=by, role=CaseMember.Role.LEAD)
            case_member_remove(case=member.case, user_id=user.pk, why=f"{label}: account deleted")
        user.delete()
        for job_id in shared:
            audit_record("job.unshare", job_id=job_id, target=label, detail="the account was deleted")
        audit_record("user.delete", target=label, jobs_transferred=moved)
        access_revoked(user_id)
    logger.info("user %s deleted by user %s; %s jobs transferred to them", user_id, by.pk, moved)
    return moved
