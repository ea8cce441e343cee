"""Making case reports, for the command line and the web app: who may have one (need-to-know: the case's members,
through cases.access and jobs.access, as for every page of the case), the build, the file written with its
SHA-256, and the audit records (`report.create` with the file's SHA-256, its sections and whether veiled pictures
were revealed; `report.download`; each refusal)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from celery import signature
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, acting_as, audit_record, user_name
from cases.access import case_get_for_user
from cases.models import Case
from jobs.access import job_get_for_user
from jobs.models import Job
from reports.build import FORMATS, Progress, report_context, report_html, report_pdf
from reports.models import Report
from reports.selectors import Scope, scope_of

logger = logging.getLogger(__name__)
User = AbstractBaseUser | AnonymousUser
# How often a web build writes its progress to its row, at most (seconds).
PROGRESS_EVERY = 0.5
# The task that builds a report asked for in the web app (reports.tasks), named, not imported: the router in settings
# sends it to the `jobs` queue.
REPORT_TASK = "reports.tasks.report_build"


class ReportRefused(Exception):
    """The user may not have this report (no case or job they may see), or it cannot be made as asked."""


@dataclass(frozen=True)
class ReportWritten:
    path: Path
    sha256: str
    size: int


def report_scope_for(
    *, user: User, case_id: int | None = None, reference: str = "", job_id: int | None = None
) -> Scope:
    """The scope of the report the user asks for (a job, else a case by id or reference), if they may see it.
    Raises ReportRefused, recorded in the audit log, where they may not (or it does not exist: not disclosed)."""
    try:
        if job_id is not None:
            if not 0 < job_id < 2**63:
                raise Job.DoesNotExist
            job = job_get_for_user(user=user, job_id=job_id)
            return scope_of(case=job.case, job=job)
        if case_id is not None and not 0 < case_id < 2**63:
            raise Case.DoesNotExist
        return scope_of(case=case_get_for_user(user=user, case_id=case_id, reference=reference))
    except (Case.DoesNotExist, Job.DoesNotExist, PermissionDenied):
        what = f"job {job_id}" if job_id is not None else f"case {case_id if case_id is not None else reference!r}"
        audit_record(
            "report.create", outcome=AuditEvent.Outcome.REFUSED, target=what[:255], detail=f"no {what} they may see"
        )
        raise ReportRefused(f"no {what} you may see") from None


def report_write(
    *,
    scope: Scope,
    sections: tuple[str, ...],
    fmt: str,
    reveal: bool,
    requester: str,
    target: Path,
    progress: Progress | None = None,
) -> ReportWritten:
    """Build the report and write it to `target` (replaced whole, never left half written), then record
    `report.create` with its SHA-256."""
    if fmt not in FORMATS:
        raise ReportRefused(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    progress = progress or (lambda stage, done, total: None)
    context = report_context(scope=scope, sections=sections, reveal=reveal, requester=requester, progress=progress)
    progress("html", 0, 1)
    html = report_html(context)
    del context
    progress("html", 1, 1)
    if fmt == "pdf":
        progress("pdf", 0, 1)
        data = report_pdf(html)
        progress("pdf", 1, 1)
    else:
        data = html.encode("utf-8")
    del html
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".report-", delete=False) as tmp:
        try:
            tmp.write(data)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, target)
    sha256 = hashlib.sha256(data).hexdigest()
    job = scope.job
    audit_record(
        "report.create", job_id=job.pk if job else None, target=scope.case.reference,
        detail=f"{fmt} report of {'job ' + str(job.pk) if job else 'the case'}: {', '.join(sections)}",
        case_id=scope.case.pk, jobs=scope.job_ids, format=fmt, sections=list(sections), revealed=reveal,
        sha256=sha256, size=len(data),
    )  # fmt: skip
    return ReportWritten(path=target, sha256=sha256, size=len(data))


def report_request(
    *, user: AbstractBaseUser, case_id: int, job_id: int | None, sections: tuple[str, ...], fmt: str, reveal: bool
) -> Report:
    """Queue a report the user asked for in the web app (checked as report_scope_for does); built by
    reports.tasks on the `jobs` queue."""
    scope = report_scope_for(user=user, job_id=job_id) if job_id else report_scope_for(user=user, case_id=case_id)
    if scope.case.pk != case_id:
        raise ReportRefused(f"no job {job_id} in this case")
    report = Report.objects.create(
        case=scope.case, job=scope.job, requested_by=user, sections=list(sections),
        format=fmt, reveal=reveal,
    )  # fmt: skip
    transaction.on_commit(lambda: signature(REPORT_TASK, args=(report.pk,), immutable=True).apply_async())
    return report


class _ReportGone(Exception):
    """The report's row was deleted (with its case or job) during its build."""


def _web_progress(report: Report) -> Progress:
    """Writes the build's progress to the report's row: each new stage, its end, and otherwise at most every
    PROGRESS_EVERY seconds (the page reads it from there: reports.selectors.report_progress). Raises _ReportGone
    once the row is deleted, so that the build stops before it writes a file nobody can reach."""
    last = {"at": 0.0, "stage": ""}

    def mark(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != last["stage"]:
            last["stage"] = stage
            Report.objects.filter(pk=report.pk).update(stage_started_at=timezone.now())
        elif now - last["at"] < PROGRESS_EVERY and done < total:
            return
        last["at"] = now
        if not Report.objects.filter(pk=report.pk).update(stage=stage, done=done, total=total):
            raise _ReportGone

    return mark


def _failed(report: Report, why: str) -> None:
    Report.objects.filter(pk=report.pk).update(status=Report.Status.FAILED, error=why, finished_at=timezone.now())


def reports_stalled_fail() -> int:
    """Mark failed the reports left building longer than a task may run (CELERY_TASK_TIME_LIMIT): their worker
    ended without finishing them, and nothing else will. Called where a build's progress is read and where a build
    is claimed. How many were marked."""
    since = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return Report.objects.filter(status=Report.Status.BUILDING, started_at__lt=since).update(
        status=Report.Status.FAILED, error="the build stopped before it finished; ask for the report again",
        finished_at=timezone.now(),
    )  # fmt: skip


def _orphans_remove() -> None:
    """Remove the files under REPORTS_ROOT whose report is gone (its case or job was deleted)."""
    root = Path(settings.REPORTS_ROOT)
    found: dict[int, Path] = {}
    for path in root.glob("case-*/report-*.*"):
        number = path.stem.removeprefix("report-")
        if number.isdigit() and int(number) < 2**63:
            found[int(number)] = path
    kept = set(Report.objects.filter(pk__in=list(found)).values_list("pk", flat=True))
    for number, path in found.items():
        if number not in kept:
            path.unlink(missing_ok=True)


def report_build(*, report_id: int) -> None:
    """Build a queued report (the task's work): as its requester, who must still be a member of the case; the
    file goes under REPORTS_ROOT. The report is claimed by one conditional update, so that a task delivered twice
    builds it once. A failure is kept on the report, not raised; the detail of an unexpected one is logged, not
    shown."""
    reports_stalled_fail()
    claimed = Report.objects.filter(pk=report_id, status=Report.Status.QUEUED).update(
        status=Report.Status.BUILDING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    _orphans_remove()
    report = Report.objects.select_related("requested_by").get(pk=report_id)
    user = report.requested_by
    actor = Actor(AuditEvent.Via.WEB, user_id=user.pk, username=user_name(user)) if user else None
    name = f"case-{report.case_id}/report-{report.pk}.{report.format}"
    target = Path(settings.REPORTS_ROOT) / name
    try:
        with acting_as(actor or Actor(AuditEvent.Via.SYSTEM)):
            if user is None:
                raise ReportRefused("the account that asked for the report is gone")
            if report.job_id:
                scope = report_scope_for(user=user, job_id=report.job_id)
            else:
                scope = report_scope_for(user=user, case_id=report.case_id)
            written = report_write(
                scope=scope, sections=tuple(report.sections), fmt=report.format, reveal=report.reveal,
                requester=user_name(user), target=target, progress=_web_progress(report),
            )  # fmt: skip
    except _ReportGone:
        return
    except ReportRefused as exc:
        _failed(report, str(exc))
        return
    except Exception as exc:
        logger.exception("report %s of case %s failed", report.pk, report.case_id)
        _failed(report, f"the report could not be built (logged): {type(exc).__name__}")
        return
    done = Report.objects.filter(pk=report.pk).update(
        status=Report.Status.DONE, file_name=name, sha256=written.sha256, size=written.size, finished_at=timezone.now()
    )
    if not done:  # the report was deleted (with its case or job) while it was built
        target.unlink(missing_ok=True)


def report_for_download(*, user: User, case_id: int, report_id: int) -> Report:
    """A finished report for its requester, who must still be able to see the case; Report.DoesNotExist (and an
    audited refusal) otherwise."""
    found = Report.objects.filter(pk=report_id, case_id=case_id, status=Report.Status.DONE).first()
    allowed = found is not None and user.is_authenticated and found.requested_by_id == user.pk
    if allowed:
        try:
            case_get_for_user(user=user, case_id=case_id)
        except Case.DoesNotExist:
            allowed = False
    if not allowed:
        audit_record(
            "report.download", outcome=AuditEvent.Outcome.REFUSED, target=f"report {report_id}",
            detail="no report of theirs in a case they may see", case_id=case_id,
        )  # fmt: skip
        raise Report.DoesNotExist
    audit_record(
        "report.download", job_id=found.job_id, target=f"report {found.pk}", case_id=case_id, sha256=found.sha256,
        format=found.format,
    )  # fmt: skip
    return found
