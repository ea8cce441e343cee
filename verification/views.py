"""Re-verification pages: the job page's button (POST), a run's page with its live progress and the entries not
verified, the progress the page polls, and a job's runs. Adapters only: who may is verification.access, what
happens verification.services."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jobs.models import Job
from verification.access import NotFound, verification_job_for_user, verification_run_for_user
from verification.models import VerificationRun
from verification.selectors import verification_files, verification_progress, verifications_of_job
from verification.services import VerificationRefused, verification_queue


def _job_or_404(request: HttpRequest, job_id: int, action: str) -> Job:
    try:
        return verification_job_for_user(user=request.user, job_id=job_id, action=action)
    except NotFound:
        raise Http404("No such job.") from None


def _run_or_404(request: HttpRequest, run_id: int, action: str) -> VerificationRun:
    try:
        return verification_run_for_user(user=request.user, run_id=run_id, action=action)
    except NotFound:
        raise Http404("No such verification.") from None


@require_POST
def verification_start_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, "verify.start")
    try:
        run = verification_queue(job=job)
    except VerificationRefused as exc:
        messages.error(request, str(exc))
        return redirect("jobs:detail", job_id=job.pk)
    return redirect("verification:detail", run_id=run.pk)


@require_GET
def verification_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(request, run_id, "verify.view")
    files = Paginator(verification_files(run=run), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "verification/detail.html",
        {"run": run, "progress": verification_progress(run=run), "files": files},
    )


@require_GET
def verification_progress_view(request: HttpRequest, run_id: int) -> JsonResponse:
    run = _run_or_404(request, run_id, "verify.view")
    return JsonResponse(verification_progress(run=run))


@require_GET
def verification_list(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, "verify.view")
    runs = Paginator(verifications_of_job(job_id=job.pk), 50).get_page(request.GET.get("page"))
    return render(request, "verification/list.html", {"job": job, "runs": runs})
