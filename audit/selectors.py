"""Reads of the audit log."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events_for_job(*, job_id: int, limit: int = 50) -> QuerySet[AuditEvent]:
    """The job's newest events, newest first."""
    return AuditEvent.objects.filter(job_id=job_id).order_by("-at", "-id")[:limit]
