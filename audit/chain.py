"""The audit log's hash chain: every event, once sealed, carries its place in the chain (`chain_seq`, 1, 2, 3, ...
with no gap), the hash of the event before it (`chain_prev`) and its own hash (`chain_hash`), the SHA-256 of a
canonical serialisation of all its fields, its place and the previous hash. Changing, removing or reordering a sealed
event, even as the database's superuser with the append-only trigger disabled, breaks the chain at that event
(`audit.selectors.audit_chain_verify`, `manage.py audit verify`).

Writers do not seal. `audit_record` inserts an event with the chain columns empty, in the action's own transaction,
and asks for sealing once that transaction has committed (`audit_chain_seal_soon`). The sealer gives every unsealed
event, in id order, the next place in the chain, in batches of up to BATCH, each one query and one UPDATE. Only one
sealer works at a time: on PostgreSQL, whoever holds a session advisory lock. A writer only *tries* the lock (one
round trip) and leaves if another sealer holds it, so no request ever waits for another's sealing and writers never
serialise on a lock of their own; under load one sealer seals the events of many writers at once. Places are given at
sealing time, not by id: an event whose transaction commits after events with higher ids is simply sealed later, with
a higher place. (Chaining at insert time instead would need the previous event's hash inside the writer's
transaction, that is a lock held from each audited action to its commit: every request that records an event would
wait for every other.) A unique index on the place backs the lock: two sealers could never give one place twice.

Why every committed event is sealed: a writer that fails the lock committed its event before trying; the holder,
after releasing the lock, looks once more for unsealed events (a new snapshot, which sees that commit) and seals again
if any are left. `manage.py audit verify` also seals (waiting for the lock) before it walks the chain. On SQLite (the
embedded configuration) there is no advisory lock: its transactions take the database's write lock at the start
(`transaction_mode` IMMEDIATE), which serialises sealers.

On PostgreSQL the append-only trigger lets each event be updated exactly once, from unsealed to sealed, with nothing
else changed, and refuses an event inserted already sealed (migration 0004); the app's role may update the three
chain columns and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery

# The previous hash of the first event.
GENESIS = "0" * 64
# The fields a hash covers, besides the event's id, its place and the previous hash.
CONTENT_FIELDS = (
    "at", "via", "user_id", "username", "client", "credential", "action", "outcome", "job_id", "target", "detail",
    "data",
)  # fmt: skip
BATCH = 1000
# The key of the sealer's PostgreSQL advisory lock (any bigint the app uses for nothing else: "auditchn" in ASCII).
LOCK_KEY = 0x61756469_7463686E


def event_hash(event: dict[str, Any], *, seq: int, prev: str) -> str:
    """The SHA-256 (hex) of `event` (its "id" and CONTENT_FIELDS, as the database returns them) at place `seq` after
    the event whose hash is `prev`: canonical JSON (sorted keys, no spaces, ASCII), the time in UTC ISO 8601."""
    record = {field: event[field] for field in CONTENT_FIELDS}
    record.update(at=event["at"].astimezone(UTC).isoformat(), id=event["id"], seq=seq, prev=prev)
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _model(model: Any) -> Any:
    return model if model is not None else global_apps.get_model("audit", "AuditEvent")


# One statement seals a batch. On its own (autocommit) its transaction commits without waiting for the disk (the
# reason in _seal_batch); within a caller's transaction (a migration) it leaves that one's setting alone.
SEAL = """
UPDATE audit_auditevent AS e SET chain_seq = v.seq, chain_prev = v.prev, chain_hash = v.hash
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v (id, seq, prev, hash)
WHERE e.id = v.id
"""
SEAL_QUICK = SEAL.replace(
    "AS v (id, seq, prev, hash)", "AS v (id, seq, prev, hash), (SELECT set_config('synchronous_commit', 'off', true)) q"
)


# Up to BATCH unsealed events, oldest id first (the index audit_unsealed), each with the chain's head: one query,
# written out because it runs after most commits (the ORM would compile it every time). Its columns: "id",
# CONTENT_FIELDS in their order, the head's seq and hash.
UNSEALED = """
SELECT id, at, via, user_id, username, client, credential, action, outcome, job_id, target, detail, data,
    (SELECT chain_seq FROM audit_auditevent WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1),
    (SELECT chain_hash FROM audit_auditevent WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1)
FROM audit_auditevent WHERE chain_hash IS NULL ORDER BY id LIMIT %s
"""
UNSEALED_ANY = "SELECT EXISTS (SELECT FROM audit_auditevent WHERE chain_hash IS NULL)"


def _unsealed_after_head(model: Any) -> list[dict[str, Any]]:
    """Up to BATCH unsealed events, oldest id first, each with the chain's head ("head_seq", "head_hash")."""
    if connection.vendor == "postgresql":
        data = model._meta.get_field("data")
        with connection.cursor() as cursor:
            cursor.execute(UNSEALED, [BATCH])
            rows = cursor.fetchall()
        names = ["id", *CONTENT_FIELDS, "head_seq", "head_hash"]
        events = [dict(zip(names, row, strict=True)) for row in rows]
        for event in events:
            event["data"] = data.from_db_value(event["data"], None, connection)
        return events
    head = model.objects.filter(chain_seq__isnull=False).order_by("-chain_seq")
    return list(
        model.objects.filter(chain_hash__isnull=True)
        .order_by("id")
        .annotate(head_seq=Subquery(head.values("chain_seq")[:1]), head_hash=Subquery(head.values("chain_hash")[:1]))
        .values("id", *CONTENT_FIELDS, "head_seq", "head_hash")[:BATCH]
    )


def _links(events: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    """(id, seq, prev, hash) of each of `events`, chained after the head they carry."""
    seq, prev = events[0]["head_seq"] or 0, events[0]["head_hash"] or GENESIS
    links = []
    for event in events:
        seq += 1
        digest = event_hash(event, seq=seq, prev=prev)
        links.append((event["id"], seq, prev, digest))
        prev = digest
    return links


def _seal_batch(model: Any) -> int:
    """Seal up to BATCH unsealed events, oldest id first, after the chain's head. Returns how many.

    On PostgreSQL (under the sealer's lock) one query reads them and one statement seals them all, committing without
    waiting for the disk (synchronous_commit off, for that statement's transaction only): a seal lost in a crash is
    the newest, the events go back to unsealed and are sealed again, the chain unbroken; the next ordinary commit
    makes it durable anyway. Elsewhere (SQLite) a transaction, which takes the database's write lock first, holds
    both."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            events = _unsealed_after_head(model)
            if not events:
                return 0
            sealed = [model(id=i, chain_seq=seq, chain_prev=prev, chain_hash=h) for i, seq, prev, h in _links(events)]
            model.objects.bulk_update(sealed, ["chain_seq", "chain_prev", "chain_hash"])
            return len(sealed)
    events = _unsealed_after_head(model)
    if not events:
        return 0
    links = _links(events)
    ids, seqs, prevs, hashes = zip(*links, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            SEAL if connection.in_atomic_block else SEAL_QUICK, [list(ids), list(seqs), list(prevs), list(hashes)]
        )
    return len(links)


def _seal_all(model: Any) -> int:
    total = 0
    while True:
        count = _seal_batch(model)
        total += count
        if count < BATCH:
            return total


def _unsealed(model: Any) -> bool:
    if connection.vendor != "postgresql":
        return model.objects.filter(chain_hash__isnull=True).exists()
    with connection.cursor() as cursor:
        cursor.execute(UNSEALED_ANY)
        return cursor.fetchone()[0]


def audit_chain_seal(*, wait: bool = False, model: Any = None) -> int:
    """Seal every unsealed event that has committed, unless another sealer is at work (on PostgreSQL, and `wait`
    False: then that one seals them). `wait`: wait for the other sealer to finish, then seal what is left (`audit
    verify`). `model`: the AuditEvent model (a migration passes its own). Returns how many events this call sealed.
    Call it outside any transaction: its own must commit for the lock's release to mean anything."""
    model = _model(model)
    if connection.vendor != "postgresql":
        return _seal_all(model)
    total = 0
    while True:
        with connection.cursor() as cursor:
            if wait:
                cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            else:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return total  # the holder looks again after releasing it
            try:
                total += _seal_all(model)
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        # Events committed by writers that found the lock taken while this call held it.
        if not _unsealed(model):
            return total


def _seal_after_commit() -> None:
    audit_chain_seal()


def audit_chain_seal_soon() -> None:
    """Seal the events of the current transaction once it has committed (at once where none is open), unless
    settings.AUDIT_CHAIN_SEAL_ON_COMMIT is off. A failure to seal is logged, never raised: the event is recorded,
    and the next sealer seals it."""
    if settings.AUDIT_CHAIN_SEAL_ON_COMMIT:
        transaction.on_commit(_seal_after_commit, robust=True)
