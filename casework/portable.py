"""A case's portable case, downloaded from its page as a zip (reports.portable): any member may make one (need to
know: the case's own images only); the selection is posted with the form. Adapter only."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from cases.models import Case
from cases.selectors import case_categories
from casework.views import case_or_404
from reports.portable import (
    PortableRefused,
    PortableSelection,
    portable_case_zip,
    portable_folder_name,
)
from reports.portable_extras import portable_extra_files


class PortableForm(forms.Form):
    categories = forms.MultipleChoiceField(required=False)
    bookmarked = forms.BooleanField(required=False)

    def __init__(self, *args, case: Case, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [(c.code, c.label) for c in case_categories(case=case) if not c.clears]


@require_POST
def case_portable(request: HttpRequest, case_id: int) -> HttpResponse:
    """The portable case of the images the form selects (none chosen: every categorised image), as a zip."""
    case = case_or_404(request, case_id, audited="case.portable")
    form = PortableForm(request.POST, case=case)
    if not form.is_valid():
        why = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        audit_record("case.portable", outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=why)
        return HttpResponse(why, status=400, content_type="text/plain; charset=utf-8")
    selection = PortableSelection(
        categories=tuple(form.cleaned_data["categories"]), bookmarked=form.cleaned_data["bookmarked"]
    )
    scratch = Path(settings.VAR_DIR) / "portable"
    scratch.mkdir(parents=True, exist_ok=True)
    # Gone from the disk as soon as it is closed: when the download ends, or fails.
    out = tempfile.TemporaryFile(dir=scratch)  # noqa: SIM115 - closed by the response
    try:
        extras = portable_extra_files(case=case, user=request.user)
        portable_case_zip(case=case, user=request.user, out=out, selection=selection, extra_files=extras)
    except PortableRefused as exc:
        out.close()
        raise PermissionDenied(str(exc)) from None
    except BaseException:
        out.close()
        raise
    out.seek(0)
    response = FileResponse(
        out, as_attachment=True, filename=f"{portable_folder_name(case)}.zip", content_type="application/zip"
    )
    patch_cache_control(response, private=True, no_store=True)
    return response
