"""The staff's hash-set library page: the sets with their kind, counts, source and version; enabling, disabling and
deleting a set; importing an uploaded hash list as a new set. Adapters only: the writes are hashsets.services
(audited), the list hashsets.selectors.

Anyone but staff gets the 404 of a page that does not exist, and the refusal is audited. An upload goes to a
temporary file as it arrives (Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE to FILE_UPLOAD_TEMP_DIR
in chunks: never held in memory), is imported while the request waits and is then removed. Its size is bounded by
the proxy in front (its request body limit) and the temporary folder's free space; a database of many gigabytes
(NSRL) is better imported with `manage.py hashsets import`, which reads it where it lies."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from django import forms
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from hashformats import FORMATS
from hashsets.models import HashSet
from hashsets.selectors import hash_set_list
from hashsets.services import HashSetRefused, hash_set_delete, hash_set_enable, hash_set_import

# Malformed lines shown after an import made here (all are counted, and the audit record keeps the first of them).
MALFORMED_SHOWN = 20


def _staff(action: str):
    """Staff only: anyone else gets the 404 of a page that does not exist, their attempt audited as `action`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_staff:
                audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=request.path[:255], detail="not staff")
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class ImportForm(forms.Form):
    file = forms.FileField(label="Hash list")
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=HashSet.Kind.choices)
    category = forms.CharField(max_length=32, required=False, help_text="a category code its entries propose")
    format = forms.ChoiceField(choices=[("", "detect from the content"), *((f, f) for f in FORMATS)], required=False)


def _hash_set_or_404(hash_set_id: int, action: str) -> HashSet:
    hash_set = HashSet.objects.filter(pk=hash_set_id).first()
    if hash_set is None:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=str(hash_set_id), detail="no such hash set")
        raise Http404("No such hash set.")
    return hash_set


@require_GET
@_staff("hashset.list")
def hash_sets(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/hashsets.html", {"hash_sets": hash_set_list(), "form": ImportForm()})


def _saved(upload: UploadedFile) -> tuple[Path, bool]:
    """The upload as a file on disk, and whether it is a copy made here (to be removed)."""
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path()), False
    handle, name = tempfile.mkstemp(prefix="hashset-")
    with os.fdopen(handle, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return Path(name), True


@require_POST
@_staff("hashset.import")
def hash_set_import_view(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        detail = " ".join(e for errors in form.errors.values() for e in errors)
        audit_record("hashset.import", outcome=AuditEvent.Outcome.REFUSED, detail=detail)
        messages.error(request, detail)
        return redirect("hashsets:list")
    upload = form.cleaned_data["file"]
    path, copied = _saved(upload)
    try:
        report = hash_set_import(
            path=path,
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            category=form.cleaned_data["category"],
            user=request.user,
            format=form.cleaned_data["format"] or None,
            source_name=upload.name or "",
        )
    except HashSetRefused as refused:
        messages.error(request, str(refused))
        return redirect("hashsets:list")
    finally:
        if copied:
            path.unlink(missing_ok=True)
    hash_set = report.hash_set
    lines = "; ".join(f"line {m.line}: {m.reason}" for m in report.malformed_lines[:MALFORMED_SHOWN])
    messages.success(
        request,
        f"{hash_set.name} imported: {hash_set.entries} entries, {hash_set.malformed} malformed lines"
        + (f" ({lines}{'; ...' if hash_set.malformed > MALFORMED_SHOWN else ''})" if lines else "."),
    )
    return redirect("hashsets:list")


@require_POST
@_staff("hashset.enable")
def hash_set_enabled(request: HttpRequest, hash_set_id: int) -> HttpResponse:
    hash_set = _hash_set_or_404(hash_set_id, "hashset.enable")
    enabled = request.POST.get("enabled") == "1"
    hash_set_enable(hash_set=hash_set, enabled=enabled)
    messages.success(request, f"{hash_set.name} {'enabled' if enabled else 'disabled'}.")
    return redirect("hashsets:list")


@require_POST
@_staff("hashset.delete")
def hash_set_remove(request: HttpRequest, hash_set_id: int) -> HttpResponse:
    hash_set = _hash_set_or_404(hash_set_id, "hashset.delete")
    hash_set_delete(hash_set=hash_set)
    messages.success(request, f"{hash_set.name} deleted.")
    return redirect("hashsets:list")
