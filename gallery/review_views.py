"""The gallery's review routes (JSON): categorise, confirm, bookmark, note and mark reviewed images of a job, the
user's exposure reduction, and the decisions and counters a page refreshes live.

A write names its images either by id (`ids`: repeated, or comma separated; each must be an image of the job) or
as every image that matches the gallery's filters (`all=1`, the filters in the query string as the gallery has
them). Answers: 200 with what changed and the named images' decisions; 400 for malformed input or an unknown
category; 403 for a reviewer (read-only); 404 for a job the user may not see or an image the job did not find.
Every refusal is in the audit log (the review services record theirs)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from gallery.review_selectors import counters_json, decision_json, review_group, tile_decisions
from gallery.selectors import gallery_image_ids
from gallery.views import _filters
from jobs.models import Job, JobImage
from jobs.views import job_or_404
from review.services import (
    CategoryUnknown,
    ReviewRefused,
    bookmark_set,
    category_confirm,
    category_set,
    note_add,
    reviewed_mark,
    viewer_setting_set,
)

# The most images one request may name by id; more are chosen as "all that match the filters".
MAX_IDS = 5000
# The most images whose decisions an answer carries.
MAX_DECISIONS = 500


def _json(view: Callable) -> Callable:
    """Answer every refusal of a review route in JSON, with its status."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except (BadRequest, CategoryUnknown) as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        except ReviewRefused as exc:
            return JsonResponse({"error": str(exc)}, status=403)
        except Http404 as exc:
            return JsonResponse({"error": str(exc)}, status=404)

    return wrapped


def _malformed(job: Job, action: str, what: str) -> BadRequest:
    audit_record(action, outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, target=job.case.reference, detail=what)
    return BadRequest(what)


def _named_ids(job: Job, action: str, values: list[str]) -> list[int]:
    """Image ids given as repeated values or comma-separated lists, each checked to be an image of the job."""
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not parts or len(parts) > MAX_IDS or not all(part.isascii() and part.isdigit() for part in parts):
        raise _malformed(job, action, f"ids: 1 to {MAX_IDS} image ids")
    ids = sorted({int(part) for part in parts})
    if ids[-1] > 2**63 - 1:
        raise _malformed(job, action, "ids: an image id out of range")
    found = JobImage.objects.filter(job=job, image_id__in=ids).count()
    if found != len(ids):
        audit_record(
            action,
            outcome=AuditEvent.Outcome.REFUSED,
            job_id=job.pk,
            target=job.case.reference,
            detail="an image the job did not find",
        )
        raise Http404("This job has no such image.")
    return ids


def _chosen(request: HttpRequest, job: Job, action: str) -> tuple[list[int], bool]:
    """The images a write names, and whether they were named by id (rather than as all that match the filters)."""
    if request.POST.get("all") == "1":
        return list(gallery_image_ids(job=job, filters=_filters(request, job))), False
    return _named_ids(job, action, request.POST.getlist("ids")), True


def _answer(
    request: HttpRequest, job: Job, ids: list[int], named: bool, *, counters: bool = True, **done
) -> JsonResponse:
    shown = ids[:MAX_DECISIONS] if named else []
    found = tile_decisions(job=job, user=request.user, image_ids=shown)
    answer = {**done, "images": len(ids), "decisions": {str(i): decision_json(found.get(i)) for i in shown}}
    if counters:
        answer["counters"] = counters_json(job=job, user=request.user)
    return JsonResponse(answer)


@require_POST
@_json
def categorise(request: HttpRequest, job_id: int) -> JsonResponse:
    """Put the images in the category `code` of the case's scheme."""
    job = job_or_404(request, job_id, audited="review.category.set")
    ids, named = _chosen(request, job, "review.category.set")
    code = request.POST.get("code", "")
    outcome = category_set(case=job.case, user=request.user, code=code, image_ids=ids)
    return _answer(request, job, ids, named, outcome=asdict(outcome))


@require_POST
@_json
def confirm(request: HttpRequest, job_id: int) -> JsonResponse:
    """Confirm the categories other members proposed for the images (four eyes)."""
    job = job_or_404(request, job_id, audited="review.category.confirm")
    ids, named = _chosen(request, job, "review.category.confirm")
    outcome = category_confirm(case=job.case, user=request.user, image_ids=ids)
    return _answer(request, job, ids, named, outcome=asdict(outcome))


@require_POST
@_json
def bookmark(request: HttpRequest, job_id: int) -> JsonResponse:
    """Set (`on=1`) or take away (`on=0`) the user's bookmark on the images."""
    job = job_or_404(request, job_id, audited="review.bookmark")
    ids, named = _chosen(request, job, "review.bookmark")
    if request.POST.get("on") not in ("0", "1"):
        raise _malformed(job, "review.bookmark", "on: 1 or 0")
    changed = bookmark_set(case=job.case, user=request.user, image_ids=ids, on=request.POST["on"] == "1")
    return _answer(request, job, ids, named, changed=changed)


@require_POST
@_json
def mark_reviewed(request: HttpRequest, job_id: int) -> JsonResponse:
    """Mark the images as looked at by the user ("mark page reviewed")."""
    job = job_or_404(request, job_id, audited="review.reviewed")
    ids, named = _chosen(request, job, "review.reviewed")
    changed = reviewed_mark(case=job.case, user=request.user, image_ids=ids)
    return _answer(request, job, ids, named, changed=changed)


@require_POST
@_json
def note(request: HttpRequest, job_id: int) -> JsonResponse:
    """Add a note (`text`) on one image (`ids`)."""
    job = job_or_404(request, job_id, audited="review.note")
    ids = _named_ids(job, "review.note", request.POST.getlist("ids"))
    if len(ids) != 1:
        raise _malformed(job, "review.note", "a note is on one image")
    try:
        added = note_add(case=job.case, user=request.user, image_id=ids[0], text=request.POST.get("text", ""))
    except ValueError as exc:
        raise _malformed(job, "review.note", str(exc)) from None
    return _answer(request, job, ids, True, note={"author": added.author_label, "text": added.text})


@require_POST
@_json
def viewer(request: HttpRequest, job_id: int) -> JsonResponse:
    """The user's exposure reduction (`blur`, `grey`: 1 or 0), for every case."""
    job = job_or_404(request, job_id)
    if request.POST.get("blur") not in ("0", "1") or request.POST.get("grey") not in ("0", "1"):
        raise _malformed(job, "review.viewer_setting", "blur and grey: 1 or 0")
    setting = viewer_setting_set(user=request.user, blur=request.POST["blur"] == "1", grey=request.POST["grey"] == "1")
    return JsonResponse({"blur": setting.blur, "grey": setting.grey})


@require_GET
@_json
def decisions(request: HttpRequest, job_id: int) -> JsonResponse:
    """The decisions about the images named (`ids`, at most MAX_DECISIONS) and the counters (not with `counters=0`:
    a page reading more images than one answer holds asks for them with its last batch only): what a page showing
    them reads again when the case's decisions change."""
    job = job_or_404(request, job_id)
    ids = _named_ids(job, "job.view", request.GET.getlist("ids"))
    if len(ids) > MAX_DECISIONS:
        raise _malformed(job, "job.view", f"ids: at most {MAX_DECISIONS} images")
    counters = request.GET.get("counters", "1")
    if counters not in ("0", "1"):
        raise _malformed(job, "job.view", "counters: 1 or 0")
    return _answer(request, job, ids, True, counters=counters == "1")


@require_GET
@_json
def group(request: HttpRequest, job_id: int, image_id: int) -> JsonResponse:
    """The images a category given to an image's group goes to, and how many paths and jobs of the case it covers."""
    job = job_or_404(request, job_id)
    _named_ids(job, "job.view", [str(image_id)])
    return JsonResponse(asdict(review_group(job=job, image_id=image_id)))
