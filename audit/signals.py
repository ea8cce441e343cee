"""Sign-ins, failed sign-ins and sign-outs in the web app, from Django's authentication signals (allauth sends
them too); addresses added to, verified for and made the email of an account, from allauth's signals; and the Django
admin's own log of what staff changed there."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import email_added, email_changed, email_confirmed
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.middleware import client_address
from audit.models import AuditEvent
from audit.services import actor_for, audit_record, user_label


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def _signed_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    audit_record("sign-in", actor=actor_for(user, via=AuditEvent.Via.WEB, client=client_address(request)))


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def _signed_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    audit_record("sign-out", actor=actor_for(user, via=AuditEvent.Via.WEB, client=client_address(request)))


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    # Django has already replaced the password in `credentials`; the name tried is kept, as any sign-in log does.
    tried = str(credentials.get("email") or credentials.get("username") or "")
    audit_record(
        "sign-in",
        outcome=AuditEvent.Outcome.REFUSED,
        actor=actor_for(None, via=AuditEvent.Via.WEB, client=client_address(request)),
        target=tried,
        detail="wrong email or password",
    )


@receiver(email_added, dispatch_uid="audit_email_added")
def _email_added(sender: Any, user: Any, email_address: Any, **_: Any) -> None:
    # Recorded as a claim: the address names nobody until it is verified.
    audit_record("user.email.add", target=user_label(user), detail=f"{email_address.email} (not verified)")


@receiver(email_confirmed, dispatch_uid="audit_email_confirmed")
def _email_confirmed(sender: Any, email_address: Any, **_: Any) -> None:
    audit_record("user.email.verify", target=f"user {email_address.user_id}", detail=email_address.email)


@receiver(email_changed, dispatch_uid="audit_email_changed")
def _email_changed(sender: Any, user: Any, from_email_address: Any, to_email_address: Any, **_: Any) -> None:
    was = from_email_address.email if from_email_address else "none"
    audit_record("user.email", target=f"user {user.pk}", detail=f"{was} -> {to_email_address.email}")


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_action")
def _admin_action(sender: Any, instance: LogEntry, created: bool, **_: Any) -> None:
    """What staff change through the Django admin, which goes around the services that record their actions."""
    if created:
        kind = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}.get(instance.action_flag, "change")
        model = instance.content_type.model if instance.content_type else ""
        audit_record(
            f"admin.{kind}",
            target=f"{model} {instance.object_id}: {instance.object_repr}"[:255],
            detail=instance.get_change_message(),
        )
