"""The audit log's hash chain: every event, once sealed, carries its place in the chain (`chain_seq`, 1, 2, 3, ...
with no gap), the hash of the event before it (`chain_prev`) and its own hash (`chain_hash`), the SHA-256 of a
canonical serialisation of all its fields, its place and the previous hash. Changing, removing or reordering a sealed
event, even as the database's superuser with the append-only trigger disabled, breaks the chain at that event
(`audit.selectors.audit_chain_verify`, `manage.py audit verify`).

Writers do not seal. `audit_record` inserts an event with the chain columns empty, in the action's own transaction,
and asks for sealing once that transaction has committed (`audit_chain_seal_soon`). The sealer gives every unsealed
event, in id order, the next place in the chain, in batches, each in a short transaction of its own. Only one sealer
works at a time: on PostgreSQL, whoever holds a session advisory lock. A writer only *tries* the lock (one round trip)
and leaves if another sealer holds it, so no request ever waits for another's sealing and writers never serialise on
a lock of their own. Places are given at sealing time, not by id: an event whose transaction commits after events
with higher ids is simply sealed later, with a higher place.

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
import logging
from datetime import UTC
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

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


def _seal_batch(model: Any) -> int:
    """Seal up to BATCH unsealed events, oldest id first, after the chain's head: one transaction. Returns how many."""
    with transaction.atomic():
        events = list(
            model.objects.filter(chain_hash__isnull=True)
            .order_by("id")
            .values("id", *CONTENT_FIELDS)[:BATCH]  # the index audit_unsealed
        )
        if not events:
            return 0
        head = model.objects.filter(chain_seq__isnull=False).order_by("-chain_seq").values("chain_seq", "chain_hash")
        last = head.first() or {"chain_seq": 0, "chain_hash": GENESIS}
        seq, prev = last["chain_seq"], last["chain_hash"]
        sealed = []
        for event in events:
            seq += 1
            digest = event_hash(event, seq=seq, prev=prev)
            sealed.append(model(id=event["id"], chain_seq=seq, chain_prev=prev, chain_hash=digest))
            prev = digest
        model.objects.bulk_update(sealed, ["chain_seq", "chain_prev", "chain_hash"])
        return len(sealed)


def _seal_all(model: Any) -> int:
    total = 0
    while True:
        count = _seal_batch(model)
        total += count
        if count < BATCH:
            return total


def _unsealed(model: Any) -> bool:
    return model.objects.filter(chain_hash__isnull=True).exists()


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
    """Seal the events of the current transaction once it has committed (at once where none is open). A failure to
    seal is logged, never raised: the event is recorded, and the next sealer seals it."""
    if getattr(settings, "AUDIT_CHAIN_SEAL_ON_COMMIT", True):
        transaction.on_commit(_seal_after_commit, robust=True)
