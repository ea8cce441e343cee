"""Downloads of the exports other tools read (interchange): VICS JSON and CASE/UCO JSON-LD of a case (its page) or of
one job (the job's page). Need-to-know: only the case's members (and staff) get one; anyone else gets 404, and the
refusal is in the audit log, as every export is (interchange.services), and so is a format there is none of. The file
is written to a temporary file under VAR_DIR first, so its SHA-256 is recorded before the answer starts, and a large
case is never held in memory; no cache keeps the answer."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.cache import patch_cache_control
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
        if fmt not in DOWNLOADS:
            raise Http404("No such format.") from None
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    spool = Path(settings.VAR_DIR) / "exports"
    spool.mkdir(parents=True, exist_ok=True)
    spooled = tempfile.TemporaryFile(dir=spool)  # noqa: SIM115 (FileResponse closes it)
    try:
        text = io.TextIOWrapper(spooled, encoding="utf-8", newline="")
        export_write(scope=scope, fmt=fmt, out=text)
        text.flush()
        text.detach()
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    content_type, ending = DOWNLOADS[fmt]
    response = FileResponse(spooled, as_attachment=True, filename=f"{stem}.{ending}", content_type=content_type)
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_GET
def case_export(request: HttpRequest, case_id: int, fmt: str) -> HttpResponse:
    case = case_or_404(request, case_id, audited="case.export")
    return _download(ExportScope(case=case), fmt, f"case-{case.pk}")


@require_GET
def job_export(request: HttpRequest, job_id: int, fmt: str) -> HttpResponse:
    job = job_or_404(request, job_id, audited="job.export")
    return _download(ExportScope(case=job.case, job=job), fmt, f"job-{job.pk}")
