"""Recording audit events.

The code that carries out an action records it (`audit_record`), inside the action's own transaction where it has
one, so an action and its record commit or roll back together. Once they have committed, the event is sealed into
the log's hash chain (audit.chain). Who is acting comes from the entry point, which sets
it for the code it runs (`acting_as`): the web middleware for a request, the gRPC interceptor for a call, a
management command for its run. Anything else (a worker, a shell) acts as "system".
"""

from __future__ import annotations

import contextvars
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from audit.chain import audit_chain_seal_soon
from audit.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    via: str
    user_id: int | None = None
    username: str = ""
    client: str = ""
    credential: str = ""


SYSTEM = Actor(AuditEvent.Via.SYSTEM)
# The values AuditEvent.job_id (a bigint) holds.
JOB_IDS = range(-(2**63), 2**63)
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


def user_name(user: AbstractBaseUser) -> str:
    """How the log names an account: its email, or its user name where it has none."""
    return getattr(user, "email", "") or user.get_username()


def user_label(user: AbstractBaseUser) -> str:
    """An account as the target of an action."""
    return f"user {user.pk} ({user_name(user)})"


def actor_for(
    user: AbstractBaseUser | AnonymousUser | None, *, via: str, client: str = "", credential: str = ""
) -> Actor:
    """The actor for `user` (None or anonymous: nobody signed in) reached through `via` from `client`."""
    if user is None or not user.is_authenticated:
        return Actor(via, client=client, credential=credential)
    return Actor(via, user_id=user.pk, username=user_name(user), client=client, credential=credential)


def cli_actor(user: AbstractBaseUser | None = None) -> Actor:
    """A management command's actor: the operating-system user running it (no account signs in at the CLI), acting
    as the account `user` where the command names one (`--as`)."""
    return actor_for(user, via=AuditEvent.Via.CLI, client=f"os user {getpass.getuser()}")


def current_actor() -> Actor:
    """Who is acting in this context: what the entry point set, else SYSTEM."""
    return _actor.get() or SYSTEM


def actor_set(actor: Actor) -> Actor:
    """Make `actor` the one acting in this context from now on: for a thread that serves one call at a time and
    sets its caller before anything else runs (the gRPC server's pool threads). Returns it."""
    _actor.set(actor)
    return actor


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def _text(value: Any) -> Any:
    """`value` with every NUL character written as \\x00: PostgreSQL keeps no NUL in text or JSON, and a hostile
    request is exactly what the log must still record."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_text(key): _text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_text(item) for item in value]
    return value


def audit_record(
    action: str,
    *,
    outcome: str = AuditEvent.Outcome.OK,
    job_id: int | None = None,
    target: str = "",
    detail: str = "",
    actor: Actor | None = None,
    **data: Any,
) -> AuditEvent:
    """Record `action` by `actor` (default: whoever the entry point says is acting). `data`: JSON values. A
    `job_id` no job can have (beyond the database's integers: a hostile URL) is kept in `data`, as text."""
    actor = actor or current_actor()
    if job_id is not None and job_id not in JOB_IDS:
        data, job_id = {**data, "job_id": str(job_id)}, None
    event = AuditEvent.objects.create(
        via=actor.via,
        user_id=actor.user_id,
        username=_text(actor.username)[:254],
        client=_text(actor.client)[:128],
        credential=_text(actor.credential)[:32],
        action=action,
        outcome=outcome,
        job_id=job_id,
        target=_text(target)[:255],
        detail=_text(detail),
        data=_text(data),
    )
    audit_chain_seal_soon()
    return event
