"""Who may verify a job's evidence and see the runs: whoever may see the job (jobs.access), nobody else. A refusal
is on the record, and says no more than "not found" (a job one may not see is not disclosed)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from audit.models import AuditEvent
from audit.services import audit_record
from jobs.access import JobAction, User, job_get_for_user
from jobs.models import Job
from verification.models import VerificationRun


class NotFound(Exception):
    """No job or run the user may see by that id (refusal recorded)."""


def verification_job_for_user(*, user: User | None, job_id: int, action: str) -> Job:
    """The job if `user` may see it (None: the operator at the command line, who may verify any job); else
    NotFound, recorded as a refused `action`."""
    try:
        if user is None:
            return Job.objects.get(pk=job_id)
        return job_get_for_user(user=user, job_id=job_id, action=JobAction.VIEW)
    except (Job.DoesNotExist, PermissionDenied):
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, job_id=job_id, detail="no job they may see")
        raise NotFound(f"no job {job_id} you may see") from None


def verification_run_for_user(*, user: User, run_id: int, action: str) -> VerificationRun:
    """The run if `user` may see its job; else NotFound, recorded as a refused `action`."""
    run = VerificationRun.objects.filter(pk=run_id).first()
    if run is None or run.job_id is None:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=f"verification {run_id}",
                     detail="no verification they may see")  # fmt: skip
        raise NotFound(f"no verification {run_id} you may see")
    verification_job_for_user(user=user, job_id=run.job_id, action=action)
    return run
