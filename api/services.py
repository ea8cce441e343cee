"""API token writes (create, revoke, authenticate) and the record of paused queues."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from api.models import ApiToken, QueuePause
from audit.services import audit_record, user_label

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "isk_"  # noqa: S105 - the visible start of every token, not a secret
# last_used_at is written at most this often per token, not on every call.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def _digest(token: str) -> str:
    # The secret is 256 random bits, so a plain SHA-256 suffices (no salt or stretching: nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new token for the user. Returns the record and the token itself, which is not kept anywhere: show it
    once. Tokens look like isk_<10 hex>_<43 urlsafe>; the part before the second underscore is the prefix."""
    prefix = TOKEN_PREFIX + secrets.token_hex(5)
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        record = ApiToken.objects.create(
            user=user, name=name.strip() or "API token", prefix=prefix, digest=_digest(token)
        )
        audit_record("token.create", target=f"{prefix} for {user_label(user)}", name=record.name)
    logger.info("user %s: API token %s created", user.pk, prefix)
    return record, token


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> bool:
    """Delete one of the user's own tokens. False when the user has no such token."""
    return _revoke(ApiToken.objects.filter(pk=token_id, user=user))


def api_token_revoke_by_prefix(*, prefix: str) -> bool:
    """Delete a token by its prefix (the operator's command)."""
    return _revoke(ApiToken.objects.filter(prefix=prefix))


def _revoke(tokens: QuerySet[ApiToken]) -> bool:
    with transaction.atomic():
        record = tokens.select_related("user").select_for_update().first()
        if record is None:
            return False
        record.delete()
        audit_record("token.revoke", target=f"{record.prefix} for {user_label(record.user)}", name=record.name)
    logger.info("user %s: API token %s revoked", record.user_id, record.prefix)
    return True


def api_token_authenticate(*, token: str) -> ApiToken | None:
    """The token's record, with its active user, or None for a token that is malformed, unknown, revoked or
    belongs to a deactivated user."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = _digest(token)
    record = ApiToken.objects.select_related("user").filter(digest=digest).first()
    # The lookup is by digest, so the comparison is a formality; it is constant-time all the same.
    if record is None or not hmac.compare_digest(record.digest, digest) or not record.user.is_active:
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record


def queue_pause_record(*, worker: str, queue: str, by: AbstractBaseUser | None, drained: bool = False) -> None:
    QueuePause.objects.update_or_create(worker=worker, queue=queue, defaults={"paused_by": by, "drained": drained})


def queue_pause_clear(*, worker: str, queue: str) -> None:
    QueuePause.objects.filter(worker=worker, queue=queue).delete()
