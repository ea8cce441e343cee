"""Downloads of the exports other tools read (interchange): VICS JSON and CASE/UCO JSON-LD of a case (its page) or of
one job (the job's page). Need-to-know: only the case's members (and staff) get one; anyone else gets 404, and the
refusal is in the audit log, as every export is (interchange.services). The file is written to a temporary file
first, so its SHA-256 is recorded before the answer starts, and a large case is never held in memory."""

from __future__ import annotations

import io
import tempfile

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.http import require_GET

from casework.views import case_or_404
from interchange.selectors import ExportScope
from interchange.services import ExportRefused, export_check, export_write
from jobs.views import job_or_404

# format -> (content type, file name ending)
DOWNLOADS = {"vics": ("application/json", "vics.json"), "case": ("application/ld+json", "case-uco.jsonld")}


def _download(scope: ExportScope, fmt: str, stem: str) -> HttpResponse:
    try:
        export_check(scope=scope, fmt=fmt)
    except ExportRefused as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    text = io.TextIOWrapper(spooled, encoding="utf-8", newline="")
    export_write(scope=scope, fmt=fmt, out=text)
    text.flush()
    text.detach()
    spooled.seek(0)
    content_type, ending = DOWNLOADS[fmt]
    return FileResponse(spooled, as_attachment=True, filename=f"{stem}.{ending}", content_type=content_type)


@require_GET
def case_export(request: HttpRequest, case_id: int, fmt: str) -> HttpResponse:
    if fmt not in DOWNLOADS:
        raise Http404("No such format.")
    case = case_or_404(request, case_id, audited="case.export")
    return _download(ExportScope(case=case), fmt, f"case-{case.pk}")


@require_GET
def job_export(request: HttpRequest, job_id: int, fmt: str) -> HttpResponse:
    if fmt not in DOWNLOADS:
        raise Http404("No such format.")
    job = job_or_404(request, job_id, audited="job.export")
    return _download(ExportScope(case=job.case, job=job), fmt, f"job-{job.pk}")
