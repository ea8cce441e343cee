"""The audit log's hash chain: every event, once sealed, has a seal (AuditSeal) with its place in the chain (`seq`, 1,
2, 3, ... with no gap), the previous seal's hash (`prev_hash`) and its own (`hash`), the SHA-256 of a canonical
serialisation of all the event's fields, its place and the previous hash. Changing or removing a sealed event or a
seal, even as the database's superuser with the append-only triggers disabled, breaks the chain there
(`audit.selectors.audit_chain_verify`, `manage.py audit verify`).

Writers do not seal. `audit_record` inserts an event in the action's own transaction and asks for sealing once that
transaction has committed (`audit_chain_seal_soon`); each process tries at most once every
settings.AUDIT_CHAIN_SEAL_INTERVAL seconds, and the one that gets to seal seals the events of every writer. So an event
may stay unsealed until the next sealing anywhere: the next commit of any process after its interval, `manage.py audit
seal`, `manage.py audit verify`, or whatever quotes the chain's head (it calls `audit_chain_seal(wait=True)` first).

The sealer reads the unsealed events (those without a seal), oldest id first, in batches of up to BATCH, and gives
each the next place: one query and one multi-row INSERT of seals per batch. Only one sealer works at a time: on
PostgreSQL, whoever holds a session advisory lock. A writer only *tries* the lock (one round trip) and leaves if
another sealer holds it, so no request ever waits for another's sealing. Places are given at sealing time, not by id:
ids are taken before the commit, so an event can commit after events with higher ids were sealed; it is sealed later,
with a higher place. The primary key (the place) and the unique event column back the lock: no place or event is
sealed twice. (Chaining at insert time instead would hold a lock from each audited action to its commit: every
request that records an event would wait for every other.)

Where the sealer looks: after a commit, at the events above the highest sealed id less LATE, so an event that commits
while up to LATE newer events were recorded and sealed is still found there, without reading the whole log after
every commit; `wait=True` (`audit seal`, `audit verify`, reports, the migration) reads the whole log and seals
whatever committed later than that. A writer that fails the lock leaves its event to the next sealing, as one within
its interval does: under load that is soon (another process's), on a quiet server the next `audit seal`, `audit
verify` or report seals it. On SQLite (the embedded configuration) there is no advisory lock: its transactions
take the database's write lock at the start (`transaction_mode` IMMEDIATE), which serialises sealers.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

# The previous hash of the first event.
GENESIS = "0" * 64
# The fields a hash covers, besides the event's id, its place and the previous hash.
CONTENT_FIELDS = (
    "at", "via", "user_id", "username", "client", "credential", "action", "outcome", "job_id", "target", "detail",
    "data",
)  # fmt: skip
BATCH = 1000
# How far below the highest sealed event id sealing after a commit looks for events that committed late (a window
# read after commits, so small: a millisecond or two).
LATE = 1000
# The key of the sealer's PostgreSQL advisory lock (any bigint the app uses for nothing else: "auditchn" in ASCII).
LOCK_KEY = 0x61756469_7463686E


def event_hash(event: dict[str, Any], *, seq: int, prev: str) -> str:
    """The SHA-256 (hex) of `event` (its "id" and CONTENT_FIELDS, as the database returns them) at place `seq` after
    the event whose hash is `prev`: canonical JSON (sorted keys, no spaces, ASCII), the time in UTC ISO 8601."""
    record = {field: event[field] for field in CONTENT_FIELDS}
    record.update(at=event["at"].astimezone(UTC).isoformat(), id=event["id"], seq=seq, prev=prev)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# Where to start looking: the highest sealed event id (the seals' unique index), less LATE (0: the whole log).
START = "SELECT coalesce(max(event_id), 0) - %s FROM audit_auditseal"
# Up to BATCH unsealed events with ids above a start, oldest id first, each with the chain's head: one query, written
# out because it runs after commits (the ORM would compile it every time). The ids first (two index ranges merged, the
# seals' bounded too), then the unsealed events' rows. Its columns: "id", CONTENT_FIELDS in their order, the head's
# seq and hash.
UNSEALED = """
SELECT e.id, e.at, e.via, e.user_id, e.username, e.client, e.credential, e.action, e.outcome, e.job_id, e.target,
    e.detail, e.data, h.seq, h.hash
FROM (
    SELECT u.id FROM audit_auditevent u
    WHERE u.id > %(start)s
        AND NOT EXISTS (SELECT FROM audit_auditseal s WHERE s.event_id = u.id AND s.event_id > %(start)s)
    ORDER BY u.id LIMIT %(batch)s
) unsealed
JOIN audit_auditevent e ON e.id = unsealed.id
LEFT JOIN (SELECT seq, hash FROM audit_auditseal ORDER BY seq DESC LIMIT 1) h ON true
ORDER BY e.id
"""
# One statement seals a batch. On its own (autocommit) its transaction commits without waiting for the disk (the
# reason in _seal_batch); within a caller's transaction (a migration) it leaves that one's setting alone.
SEAL = """
INSERT INTO audit_auditseal (seq, event_id, prev_hash, hash)
SELECT v.seq, v.id, v.prev, v.hash
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v (id, seq, prev, hash)
"""
SEAL_QUICK = SEAL + " CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) q"


def _models(apps: Any) -> tuple[Any, Any]:
    apps = apps or global_apps
    return apps.get_model("audit", "AuditEvent"), apps.get_model("audit", "AuditSeal")


def _start(seal_model: Any, late: int) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(START, [late])
            return cursor.fetchone()[0]
    return (seal_model.objects.aggregate(top=Max("event_id"))["top"] or 0) - late


def _unsealed_after_head(models: tuple[Any, Any], start: int) -> list[dict[str, Any]]:
    """Up to BATCH unsealed events with ids above `start`, oldest first, each with the chain's head ("head_seq",
    "head_hash")."""
    event_model, seal_model = models
    names = ["id", *CONTENT_FIELDS, "head_seq", "head_hash"]
    if connection.vendor == "postgresql":
        data = event_model._meta.get_field("data")
        with connection.cursor() as cursor:
            cursor.execute(UNSEALED, {"start": start, "batch": BATCH})
            events = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for event in events:
            event["data"] = data.from_db_value(event["data"], None, connection)
        return events
    head = seal_model.objects.order_by("-seq").values_list("seq", "hash").first() or (None, None)
    events = event_model.objects.filter(id__gt=start, seal__isnull=True).order_by("id")
    return [{**event, "head_seq": head[0], "head_hash": head[1]} for event in events.values(*names[:-2])[:BATCH]]


def _links(events: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    """(event id, seq, prev, hash) of each of `events`, chained after the head they carry."""
    seq, prev = events[0]["head_seq"] or 0, events[0]["head_hash"] or GENESIS
    links = []
    for event in events:
        seq += 1
        digest = event_hash(event, seq=seq, prev=prev)
        links.append((event["id"], seq, prev, digest))
        prev = digest
    return links


def _seal_batch(models: tuple[Any, Any], start: int) -> list[dict[str, Any]]:
    """Seal up to BATCH unsealed events with ids above `start`, oldest first, after the chain's head. Returns them.

    On PostgreSQL (under the sealer's lock) one query reads them and one INSERT seals them all, committing without
    waiting for the disk (synchronous_commit off, for that statement's transaction only): seals lost in a crash are
    the newest, their events go back to unsealed and are sealed again, the chain unbroken; the next ordinary commit
    makes them durable anyway. Elsewhere (SQLite) a transaction, which takes the database's write lock first, holds
    both."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            events = _unsealed_after_head(models, start)
            if events:
                seals = [models[1](seq=s, event_id=i, prev_hash=p, hash=h) for i, s, p, h in _links(events)]
                models[1].objects.bulk_create(seals)
        return events
    events = _unsealed_after_head(models, start)
    if events:
        ids, seqs, prevs, hashes = zip(*_links(events), strict=True)
        with connection.cursor() as cursor:
            statement = SEAL if connection.in_atomic_block else SEAL_QUICK
            cursor.execute(statement, [list(ids), list(seqs), list(prevs), list(hashes)])
    return events


def _seal_all(models: tuple[Any, Any], late: int | None) -> int:
    """Seal every unsealed event above the highest sealed id less `late` (None: the whole log). Returns how many."""
    start, total = (0 if late is None else _start(models[1], late)), 0
    while True:
        events = _seal_batch(models, start)
        total += len(events)
        if len(events) < BATCH:
            return total
        start = events[-1]["id"]


def audit_chain_seal(*, wait: bool = False, apps: Any = None) -> int:
    """Seal the events committed so far that are not sealed yet, unless another sealer is at work (on PostgreSQL, and
    `wait` False: then that one seals what it sees, and the rest waits for the next sealing). Without `wait` it looks
    at the newest events only (LATE); with `wait` it waits for the other sealer to finish and then seals every
    unsealed event in the log, whatever committed before it got the lock (`audit seal`, `audit verify`, and before
    quoting the chain's head: `audit.selectors.audit_chain_head`). `apps`: the app registry (a migration passes its
    own). Returns how many events this call sealed. Call it outside any transaction: its own must commit for the
    lock's release to mean anything."""
    models, late = _models(apps), None if wait else LATE
    if connection.vendor != "postgresql":
        return _seal_all(models, late)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                return 0
        try:
            return _seal_all(models, late)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


# When this process last tried to seal (time.monotonic()).
_tried = {"at": float("-inf")}


def _seal_after_commit() -> None:
    now = time.monotonic()
    if now - _tried["at"] < settings.AUDIT_CHAIN_SEAL_INTERVAL:
        return
    _tried["at"] = now
    audit_chain_seal()


def audit_chain_seal_soon() -> None:
    """Seal the events of the current transaction once it has committed (at once where none is open), unless this
    process tried less than settings.AUDIT_CHAIN_SEAL_INTERVAL seconds ago or settings.AUDIT_CHAIN_SEAL_ON_COMMIT is
    off: then a later sealing seals them. A failure to seal is logged, never raised: the event is recorded, and the
    next sealer seals it."""
    if settings.AUDIT_CHAIN_SEAL_ON_COMMIT:
        transaction.on_commit(_seal_after_commit, robust=True)
