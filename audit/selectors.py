"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet

from audit.chain import CONTENT_FIELDS, GENESIS, event_hash
from audit.models import AuditEvent, AuditSeal


def audit_events_for_job(*, job_id: int, limit: int = 50) -> QuerySet[AuditEvent]:
    """The job's newest events, newest first."""
    return AuditEvent.objects.filter(job_id=job_id).order_by("-at", "-id")[:limit]


AUDIT_FIELDS = [
    "at", "via", "user_id", "username", "client", "credential", "action", "outcome", "job_id", "target", "detail",
    "data",
]  # fmt: skip


def audit_events_for_export(
    *, job_id: int | None = None, username: str = "", since: datetime | None = None, until: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The events that match, oldest first, as records of AUDIT_FIELDS (the time in ISO 8601, UTC)."""
    events = AuditEvent.objects.order_by("at", "id")
    if job_id is not None:
        events = events.filter(job_id=job_id)
    if username:
        events = events.filter(username__iexact=username)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    for event in events.iterator(chunk_size=2000):
        record = {field: getattr(event, field) for field in AUDIT_FIELDS}
        record["at"] = event.at.isoformat()
        yield record


@dataclass(frozen=True)
class ChainHead:
    """The newest seal: its place in the chain, its hash and its event's time. Quoted in a report, it pins the whole
    log up to it: a log rewritten later ends in another hash."""

    seq: int
    hash: str
    at: datetime


def audit_chain_head() -> ChainHead | None:
    """The chain's head, or None while no event is sealed. Events recorded since the last sealing are not in it yet:
    whoever quotes the head seals first (`audit.chain.audit_chain_seal(wait=True)`)."""
    head = AuditSeal.objects.order_by("-seq").values_list("seq", "hash", "event__at").first()
    return ChainHead(*head) if head else None


@dataclass(frozen=True)
class ChainBreak:
    """The first broken link: where the chain goes wrong (its place and the event's id) and what is wrong."""

    seq: int
    event_id: int
    problem: str


@dataclass(frozen=True)
class ChainCheck:
    events: int  # sealed events walked
    head: ChainHead | None  # the last link walked that was sound
    broken: ChainBreak | None
    unsealed: int  # events not (yet) in the chain


CHAIN_CHUNK = 5000
# A seal and its event's fields, as event_hash takes them.
LINK_FIELDS = {"prev": "prev_hash", "id": "event_id"} | {field: f"event__{field}" for field in CONTENT_FIELDS}


def audit_chain_verify(*, progress: Callable[[int], None] | None = None) -> ChainCheck:
    """Walk the seals in chain order with their events, recomputing each hash, up to the first broken link: a gap in
    the places (a seal, or its event, deleted), a seal whose previous hash is not the hash of the one before it (that
    one, or this one, changed), or an event whose hash does not match its content (changed). `progress(n)`: called
    with the number of events walked so far, every CHAIN_CHUNK events and at the end."""
    links = AuditSeal.objects.order_by("seq").values(
        "seq", "hash", **{name: F(path) for name, path in LINK_FIELDS.items()}
    )
    walked, head, broken, prev = 0, None, None, GENESIS
    for link in links.iterator(chunk_size=CHAIN_CHUNK):
        expected, seq = walked + 1, link["seq"]
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            broken = ChainBreak(seq, link["id"], f"gap: nothing sealed at place {missing} before it (deleted)")
        elif link["prev"] != prev:
            broken = ChainBreak(seq, link["id"], "previous-hash mismatch: the link before it was changed or replaced")
        elif event_hash(link, seq=seq, prev=prev) != link["hash"]:
            broken = ChainBreak(seq, link["id"], "content changed: its hash does not match its fields")
        if broken:
            break
        walked, prev = seq, link["hash"]
        head = ChainHead(seq, prev, link["at"])
        if progress and walked % CHAIN_CHUNK == 0:
            progress(walked)
    if progress:
        progress(walked)
    unsealed = AuditEvent.objects.filter(seal__isnull=True).count()
    return ChainCheck(events=walked, head=head, broken=broken, unsealed=unsealed)
