"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent


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
