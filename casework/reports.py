"""The case page's reports: asking for one (built by a worker on the `jobs` queue), its progress as JSON for the
page to poll, and its download. Adapters only: who may have a report is reports.services (need-to-know, audited),
the reads reports.selectors. A user sees, follows and downloads their own reports only; anything else is a 404."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from casework.forms import ReportForm
from casework.views import case_or_404
from jobs.selectors import case_jobs
from reports.models import Report
from reports.selectors import report_of, report_progress
from reports.services import ReportRefused, report_for_download, report_request, reports_stalled_fail

CONTENT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _back(case_id: int) -> HttpResponse:
    return redirect(reverse("casework:detail", args=[case_id]) + "#reports")


@require_POST
def report_new(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id, audited="report.create")
    form = ReportForm(request.POST, jobs=case_jobs(case_id=case.pk))
    if not form.is_valid():
        why = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        audit_record("report.create", outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=why)
        messages.error(request, f"The report was not asked for: {why}")
        return _back(case.pk)
    data = form.cleaned_data
    try:
        report = report_request(
            user=request.user, case_id=case.pk, job_id=data["job"], sections=tuple(data["sections"]),
            fmt=data["format"], reveal=data["reveal"],
        )  # fmt: skip
    except ReportRefused:
        raise Http404("No such job in this case.") from None
    messages.success(request, f"Report {report.pk} is being made: its progress is shown below.")
    return _back(case.pk)


@require_GET
def report_status(request: HttpRequest, case_id: int, report_id: int) -> JsonResponse:
    case = case_or_404(request, case_id, audited="report.progress")
    reports_stalled_fail()
    report = report_of(case=case, user=request.user, report_id=report_id)
    if report is None:
        raise Http404("No such report.")
    return JsonResponse(report_progress(report, now=timezone.now()))


@require_GET
def report_download(request: HttpRequest, case_id: int, report_id: int) -> FileResponse:
    case = case_or_404(request, case_id, audited="report.download")
    try:
        report = report_for_download(user=request.user, case_id=case.pk, report_id=report_id)
    except Report.DoesNotExist:
        raise Http404("No such report.") from None
    path = Path(settings.REPORTS_ROOT) / report.file_name
    try:
        fp = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    except OSError:
        raise Http404("The report's file is gone.") from None
    response = FileResponse(
        fp, as_attachment=True, filename=f"report-{report.pk}-case-{case.pk}.{report.format}",
        content_type=CONTENT_TYPES[report.format],
    )  # fmt: skip
    response["X-Content-SHA256"] = report.sha256
    return response
