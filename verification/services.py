"""Re-verifying a job's evidence: a run is recorded (`verification_start`), queued for a worker
(`verification_queue`) or run where it was asked for (`verification_execute`), and its outcome kept and audited."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record, current_actor
from jobs.models import Job
from verification.comparison import COMPARED, compare_source
from verification.models import VerificationFile, VerificationRun

logger = logging.getLogger(__name__)

VERIFY_TASK = "verification.tasks.verify_run"
COUNTS = ("verified", "changed_hash", "changed_metadata", "missing", "new", "unreadable")


class VerificationRefused(Exception):
    """The job cannot be verified now (its manifest is not complete); refusal recorded."""


def verification_start(*, job: Job, actor: Actor | None = None) -> VerificationRun:
    """Record a queued run of `job` started by `actor` (default: whoever is acting); audited as `verify.start`.
    VerificationRefused for a job that has not ended: its manifest is still being written."""
    actor = actor or current_actor()
    if job.status not in Job.FINAL:
        why = f"job {job.pk} is {job.status}: only a job that has ended can be verified"
        audit_record("verify.start", outcome=AuditEvent.Outcome.REFUSED, actor=actor, job_id=job.pk, detail=why)
        raise VerificationRefused(why)
    with transaction.atomic():
        run = VerificationRun.objects.create(
            job=job,
            job_number=job.pk,
            job_name=job.name,
            source_path=job.source_path,
            user_id=actor.user_id,
            username=actor.username,
            via=actor.via,
            compared=COMPARED,
            expected=job.files.count(),
        )
        audit_record("verify.start", actor=actor, job_id=job.pk, target=job.name, verification=run.pk)
    return run


def verification_queue(*, job: Job, actor: Actor | None = None) -> VerificationRun:
    """`verification_start`, and the run handed to a worker (the `jobs` queue) once that commits (a refusal is
    recorded outside any transaction of this one's, so that it stays on the record)."""
    run = verification_start(job=job, actor=actor)
    transaction.on_commit(lambda: signature(VERIFY_TASK, args=(run.pk,)).apply_async())
    return run


def _record_batch(run_id: int, counts: Counter[str], rows: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        VerificationFile.objects.bulk_create([VerificationFile(run_id=run_id, **row) for row in rows])
        VerificationRun.objects.filter(pk=run_id).update(
            checked=F("checked") + sum(counts.values()),
            **{name: F(name) + counts[name] for name in COUNTS if counts[name]},
        )


def _finish(run: VerificationRun, *, status: str, error: str = "") -> VerificationRun:
    VerificationRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=timezone.now())
    run.refresh_from_db()
    counts = {name: getattr(run, name) for name in COUNTS}
    outcome = AuditEvent.Outcome.OK if status == VerificationRun.Status.DONE else AuditEvent.Outcome.FAILED
    audit_record("verify.finish", outcome=outcome, job_id=run.job_number, target=run.job_name, detail=error,
                 verification=run.pk, **counts)  # fmt: skip
    return run


def verification_execute(
    *, run_id: int, on_progress: Callable[[VerificationRun], None] | None = None
) -> VerificationRun | None:
    """Run a queued run: read the job's source again and compare it with the manifest, keeping every entry not
    verified; audited as `verify.finish` with the counts. None when the run is not queued (it ran, or runs,
    already). `on_progress` is given the run, its counts up to date, after each batch. A run that cannot go on (the
    job deleted, the source gone, a fault) ends failed, with the reason."""
    claimed = VerificationRun.objects.filter(pk=run_id, status=VerificationRun.Status.QUEUED).update(
        status=VerificationRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        logger.info("verification %s: not queued, not run", run_id)
        return None
    run = VerificationRun.objects.select_related("job").get(pk=run_id)
    if run.job is None:
        return _finish(run, status=VerificationRun.Status.FAILED, error="the job was deleted")
    if not os.path.isdir(os.fsencode(run.job.source_path)):
        return _finish(run, status=VerificationRun.Status.FAILED, error="source folder is missing or not a folder")
    logger.info("job %s: verification %s of %s entries begins", run.job_number, run.pk, run.expected)

    def on_batch(counts: Counter[str], rows: list[dict[str, Any]]) -> None:
        _record_batch(run.pk, counts, rows)
        if on_progress is not None:
            run.refresh_from_db()
            on_progress(run)

    try:
        compare_source(run.job, threads=settings.VERIFY_THREADS, on_batch=on_batch)
    except BaseException as exc:
        _finish(run, status=VerificationRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    run = _finish(run, status=VerificationRun.Status.DONE)
    logger.info("job %s: verification %s done, %s verified, %s not", run.job_number, run.pk, run.verified,
                run.not_verified)  # fmt: skip
    return run
