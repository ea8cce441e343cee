"""Re-verifying a job's evidence: a run is recorded (`verification_start`), queued for a worker
(`verification_queue`) or run where it was asked for (`verification_execute`), and its outcome kept and audited."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record, current_actor
from jobs.models import Job
from jobs.services import SourceError, source_resolve
from verification.comparison import COMPARED, compare_source
from verification.models import VerificationFile, VerificationRun

logger = logging.getLogger(__name__)

VERIFY_TASK = "verification.tasks.verify_run"
ACTIVE = (VerificationRun.Status.QUEUED, VerificationRun.Status.RUNNING)
STALE = "stopped: no progress for longer than a run may take"
COUNTS = ("verified", "changed_hash", "changed_metadata", "missing", "new", "unreadable")


class VerificationRefused(Exception):
    """The job cannot be verified now (its manifest is not complete, or a run of it is under way); refusal
    recorded."""


class _JobDeleted(Exception):
    """The job was deleted while its run read the source: its manifest is gone."""


def _refuse(actor: Actor, job: Job, why: str) -> None:
    audit_record("verify.start", outcome=AuditEvent.Outcome.REFUSED, actor=actor, job_id=job.pk, detail=why)
    raise VerificationRefused(why)


def verification_stale_end(*, job_id: int) -> int:
    """End failed the job's runs left queued or running that have shown no progress for VERIFY_TIME_LIMIT seconds
    (a worker killed, a command interrupted): no run can go on that long. Returns how many ended."""
    limit = timezone.now() - timedelta(seconds=settings.VERIFY_TIME_LIMIT)
    stale = VerificationRun.objects.filter(job_number=job_id, status__in=ACTIVE, progressed_at__lt=limit)
    ended = 0
    for run in stale:
        if VerificationRun.objects.filter(pk=run.pk, status=run.status, progressed_at=run.progressed_at).update(
            status=VerificationRun.Status.FAILED, error=STALE, finished_at=timezone.now()
        ):
            audit_record("verify.finish", outcome=AuditEvent.Outcome.FAILED, job_id=run.job_number,
                         target=run.job_name, detail=STALE, verification=run.pk)  # fmt: skip
            ended += 1
    return ended


def verification_start(*, job: Job, actor: Actor | None = None) -> VerificationRun:
    """Record a queued run of `job` started by `actor` (default: whoever is acting); audited as `verify.start`.
    VerificationRefused for a job that has not completed (its manifest is still being written, or partial: a job
    failed or cancelled) and while another run of the job is queued or running (one at a time; a run that has shown
    no progress for VERIFY_TIME_LIMIT is ended first, see verification_stale_end)."""
    actor = actor or current_actor()
    if job.status != Job.Status.COMPLETED:
        _refuse(actor, job, f"job {job.pk} is {job.status}: only a completed job has a whole manifest to verify")
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=job.pk).first()  # one start at a time per job
        verification_stale_end(job_id=job.pk)
        under_way = VerificationRun.objects.filter(job_number=job.pk, status__in=ACTIVE).order_by("pk").first()
        if under_way is None:
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
    if under_way is not None:  # refused outside the transaction, so that the refusal stays on the record
        _refuse(actor, job, f"verification {under_way.pk} of job {job.pk} is {under_way.status}: one run at a time")
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
            progressed_at=timezone.now(),
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
    now = timezone.now()
    claimed = VerificationRun.objects.filter(pk=run_id, status=VerificationRun.Status.QUEUED).update(
        status=VerificationRun.Status.RUNNING, started_at=now, progressed_at=now
    )
    if not claimed:
        logger.info("verification %s: not queued, not run", run_id)
        return None
    run = VerificationRun.objects.select_related("job").get(pk=run_id)
    if run.job is None:
        return _finish(run, status=VerificationRun.Status.FAILED, error="the job was deleted")
    moved = _source_moved(run.job.source_path)
    if moved:
        return _finish(run, status=VerificationRun.Status.FAILED, error=moved)
    logger.info("job %s: verification %s of %s entries begins", run.job_number, run.pk, run.expected)

    def on_batch(counts: Counter[str], rows: list[dict[str, Any]]) -> None:
        if not Job.objects.filter(pk=run.job_number).exists():
            raise _JobDeleted
        _record_batch(run.pk, counts, rows)
        if on_progress is not None:
            run.refresh_from_db()
            on_progress(run)

    try:
        compare_source(run.job, threads=settings.VERIFY_THREADS, on_batch=on_batch)
        if not Job.objects.filter(pk=run.job_number).exists():
            raise _JobDeleted
    except _JobDeleted:
        return _finish(run, status=VerificationRun.Status.FAILED, error="the job was deleted during the run")
    except BaseException as exc:
        # The exception's text may name server paths: the log keeps it, the run and the audit log its kind only.
        logger.exception("job %s: verification %s stopped on an error", run.job_number, run.pk)
        _finish(run, status=VerificationRun.Status.FAILED, error=f"stopped on an error ({type(exc).__name__})")
        raise
    run = _finish(run, status=VerificationRun.Status.DONE)
    logger.info("job %s: verification %s done, %s verified, %s not", run.job_number, run.pk, run.verified,
                run.not_verified)  # fmt: skip
    return run


def _source_moved(source_path: str) -> str:
    """Why the job's source cannot be read as the one scanned ("": it can): gone, not a folder, or a folder on its
    path now a link that leads elsewhere (another folder's files must never be recorded as this job's)."""
    if not os.path.isdir(os.fsencode(source_path)):
        return "source folder is missing or not a folder"
    root = os.path.realpath(settings.SOURCES_ROOT)
    within = root if os.path.commonpath([root, source_path]) == root else None
    try:
        real = source_resolve(source_path, within=within)
    except SourceError:
        return "the source path now leads elsewhere"
    return "" if str(real) == source_path else "the source path now leads elsewhere"
