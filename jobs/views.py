"""Jobs pages: list, create, detail with progress and errors, start / cancel / delete, sharing. Adapters only: the
rules live in jobs.access (who may do what), jobs.lifecycle (when a job may start or end) and jobs.services (what
happens)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEvent
from audit.selectors import AUDIT_FIELDS, audit_events_for_export, audit_events_for_job
from audit.services import audit_record
from cases.models import OWN_CASE_REFERENCE
from cases.selectors import case_members, vics_incompatible
from content.models import Image, StageResult
from jobs.access import JobAction, job_get_for_user, job_list_for_user, job_permissions
from jobs.forms import JobCreateForm, ShareForm
from jobs.lifecycle import StartOutcome, job_cancel, job_start
from jobs.models import FileInstance, Job, JobImage
from jobs.progress.snapshot import job_progress_snapshot, progress_event
from jobs.progress.waiting import job_waits
from jobs.selectors import images_removed_with, source_label
from jobs.services import (
    CaseRefusedForJob,
    RerunRefused,
    SourceError,
    job_create,
    job_delete,
    job_rerun,
    job_share,
    job_source,
    job_unshare,
)
from records.formats import records_write


def job_or_404(request: HttpRequest, job_id: int, action: JobAction = JobAction.VIEW, audited: str = "") -> Job:
    """The job if the signed-in user may see it; 404 if not (its existence is not disclosed), 403 if they may see
    it but not do `action`. A refusal is recorded in the audit log as `audited` (default: job.<action>)."""
    audited = audited or f"job.{action}"
    try:
        return job_get_for_user(user=request.user, job_id=job_id, action=action)
    except Job.DoesNotExist:
        audit_record(audited, outcome=AuditEvent.Outcome.REFUSED, job_id=job_id, detail="no job they may see")
        raise Http404("No such job.") from None
    except PermissionDenied as exc:
        audit_record(audited, outcome=AuditEvent.Outcome.REFUSED, job_id=job_id, detail=str(exc))
        raise


def image_or_404(job: Job, image_id: int, action: str) -> Image:
    """The image `image_id` of `job`; a 404, on the record as a refused `action`, when the job has no such image."""
    if not JobImage.objects.filter(job=job, image_id=image_id).exists():
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail="no such image", image=image_id)
        raise Http404("This job has no such image.")
    return Image.objects.get(pk=image_id)


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = job_list_for_user(user=request.user).prefetch_related("stage_progress")
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    for job in page:
        job.source_label = source_label(job)
    return render(request, "jobs/list.html", {"page": page, "statuses": Job.Status.values})


@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest) -> HttpResponse:
    form = JobCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case, source_path = job_source(data["source"], user=request.user, case=data["case"])
            job = job_create(
                name=data["name"],
                description=data["description"],
                source_path=source_path,
                owner=request.user,
                stages=data["stages"],
                within=settings.SOURCES_ROOT,
                case=case,
                exhibit=data["exhibit"],
            )
        except (SourceError, CaseRefusedForJob) as exc:
            case = data["case"].reference if data["case"] else ""
            audit_record("job.create", outcome=AuditEvent.Outcome.REFUSED, detail=str(exc), source=data["source"],
                         case=case)  # fmt: skip
            form.add_error("case" if isinstance(exc, CaseRefusedForJob) else "source", str(exc))
        else:
            messages.success(request, f"Job “{job.name}” created.")
            if "start" in request.POST:
                _started(request, job)
            return redirect("jobs:detail", job_id=job.pk)
    return render(request, "jobs/new.html", {"form": form, "sources_root": settings.SOURCES_ROOT})


@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id)
    errors = Paginator(
        FileInstance.objects.filter(job=job, status=FileInstance.Status.ERROR).order_by("path", "id"), 50
    ).get_page(request.GET.get("errors"))
    versions = job.run_config.versions
    stage_failures = (
        StageResult.objects.filter(
            status=StageResult.Status.FAILED,
            stage__in=list(versions),
            image__in=JobImage.objects.filter(job=job).values("image"),
        )
        .select_related("image")
        .order_by("stage", "image_id")[:100]
    )
    can = job_permissions(job=job, user=request.user)
    return render(
        request,
        "jobs/detail.html",
        {
            "job": job,
            "source": source_label(job),
            "snapshot": {**progress_event(job_id=job.pk, kind="snapshot"), "waiting": job_waits(job=job)},
            "active": Job.ACTIVE,
            "final": Job.FINAL,
            "can": {action.value: True for action in can},
            "errors": errors,
            "stage_failures": [f for f in stage_failures if versions.get(f.stage) == f.extractor_version],
            # The case's members; in a single job's own case, less its owner (who has every right there).
            "shares": case_members(case_id=job.case_id).exclude(
                user_id=job.owner_id if OWN_CASE_REFERENCE.fullmatch(job.case.reference) else None
            ),
            "share_form": ShareForm(),
            "vics_refusal": vics_incompatible(job.case),
            # Who did what to the job, for those who decide who may see it (owner and staff).
            "history": audit_events_for_job(job_id=job.pk) if JobAction.SHARE in can else None,
        },
    )


@require_GET
def job_history(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's whole audit log as CSV, oldest first (the fields of `manage.py audit`), for its owner and staff."""
    job = job_or_404(request, job_id, JobAction.SHARE, audited="audit.export")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-audit.csv"'
    events = audit_events_for_export(job_id=job.pk)
    count = records_write(response, events, fmt="csv", fields=AUDIT_FIELDS)
    audit_record("audit.export", job_id=job.pk, target=job.name, format="csv", records=count)
    return response


@require_GET
def job_progress(request: HttpRequest, job_id: int) -> JsonResponse:
    """The progress snapshot, read from the database, for the job page's refresh."""
    job = job_or_404(request, job_id)
    return JsonResponse({**job_progress_snapshot(job_id=job.pk), "waiting": job_waits(job=job)})


@require_POST
def job_start_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.CHANGE)
    _started(request, job)
    return redirect("jobs:detail", job_id=job.pk)


def _started(request: HttpRequest, job: Job) -> None:
    """Start the job and tell the user what that came to."""
    outcome = job_start(job=job)
    if outcome.started:
        messages.success(request, "Scan queued: it starts as soon as a worker is free.")
    elif outcome.result is StartOutcome.Result.SOURCE_MISSING:
        messages.error(request, "The job cannot start: its source folder is missing or not a folder.")
    else:
        messages.error(request, f"The job cannot start: it is {job.status}.")


@require_POST
def job_rerun_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.CHANGE)
    try:
        rerun = job_rerun(job=job, within=settings.SOURCES_ROOT)
    except RerunRefused as exc:
        audit_record("job.rerun", outcome=AuditEvent.Outcome.FAILED, job_id=job.pk, target=job.name, detail=str(exc))
        messages.error(request, capfirst(str(exc)))
        return redirect("jobs:detail", job_id=job.pk)
    messages.success(request, f"Scanning again as job #{rerun.pk}; results the same versions found are linked.")
    return redirect("jobs:detail", job_id=rerun.pk)


@require_POST
def job_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.CHANGE)
    if job_cancel(job=job):
        messages.success(request, "Job cancelled: queued work is dropped, running tasks stop at their next batch.")
    else:
        messages.error(request, f"The job is not running (it is {job.status}).")
    return redirect("jobs:detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
def job_delete_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.DELETE)
    if request.method == "POST":
        if job.status in Job.ACTIVE:
            messages.error(request, "Cancel the job before deleting it.")
            return redirect("jobs:detail", job_id=job.pk)
        name = job.name
        removed = job_delete(job=job)
        messages.success(request, f"Job “{name}” deleted, with {removed} images no other job holds.")
        return redirect("jobs:list")
    orphans = images_removed_with(job_id=job.pk).count()
    return render(request, "jobs/delete.html", {"job": job, "source": source_label(job), "orphans": orphans})


@require_POST
def job_share_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.SHARE)
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            job_share(job=job, user=form.user, role=form.cleaned_data["role"], by=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Shared with {form.cleaned_data['email']}.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("jobs:detail", job_id=job.pk)


@require_POST
def job_unshare_view(request: HttpRequest, job_id: int, user_id: int) -> HttpResponse:
    job = job_or_404(request, job_id, JobAction.SHARE)
    try:
        if job_unshare(job=job, user_id=user_id, by=request.user):
            messages.success(request, "Share removed.")
    except ValueError as exc:  # ShareRefused, CaseRefused
        messages.error(request, str(exc))
    return redirect("jobs:detail", job_id=job.pk)
