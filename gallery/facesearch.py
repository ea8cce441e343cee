"""Searches from the gallery: "find this face" (from a face of the image panel, or a face in a reference photo the
examiner uploads, which is never stored), over the job's case or every job the user may see, and the images of a
job ranked by a sentence. Adapters over jobs.search: access, input and the audit record here, the rules there."""

from __future__ import annotations

import base64

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from audit.models import AuditEvent
from audit.services import audit_record
from content.models import Face
from extractors.base import StageUnavailable
from jobs.models import Job
from jobs.search import (
    FaceQuery,
    ReferenceRefused,
    face_search_jobs,
    faces_like,
    job_images_by_text,
    reference_faces,
    reference_size_check,
)
from jobs.veils import veils_for
from jobs.views import job_or_404

RESULTS = 60  # faces shown per search
WORD_RESULTS = 60  # images shown per sentence
_SENTENCE_MAX = 300


def _page(request: HttpRequest, job: Job, status: int = 200, **context: object) -> HttpResponse:
    return render(
        request,
        "gallery/facesearch.html",
        {"job": job, "everywhere": _everywhere(request), **context},
        status=status,
    )


def _everywhere(request: HttpRequest) -> bool:
    return (request.POST if request.method == "POST" else request.GET).get("everywhere") == "1"


def _refused(request: HttpRequest, job: Job, message: str) -> HttpResponse:
    audit_record("faces.search", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail=message)
    return _page(request, job, status=400, message=message)


def _search(request: HttpRequest, job: Job, query: FaceQuery, **context: object) -> HttpResponse:
    everywhere = _everywhere(request)
    jobs = face_search_jobs(user=request.user, job=job, everywhere=everywhere)
    matches = faces_like(jobs=jobs, query=query, limit=RESULTS, matches_only=True)
    audit_record(
        "faces.search", job_id=job.pk, target=f"face {query.face_id}" if query.face_id else "reference photo",
        scope="every job" if everywhere else "case", jobs=len(jobs), results=len(matches),
    )  # fmt: skip
    names = {j.pk: j.name for j in jobs}
    rows = [(match, names[match.job_id]) for match in matches]
    veils = veils_for(user=request.user, image_ids=[m.image_id for m in matches], jobs=[m.job_id for m in matches])
    return _page(request, job, matches=rows, searched=True, veils=veils, **context)


@require_http_methods(["GET", "POST"])
def face_search(request: HttpRequest, job_id: int) -> HttpResponse:
    """GET ?face=ID: the faces like a face of this job. POST (multipart, `photo`, optional `choose`): the faces like
    the face in a reference photo; a photo with several faces answers with them, to choose one."""
    job = job_or_404(request, job_id, audited="faces.search")
    if request.method == "POST":
        return _reference_search(request, job)
    raw = request.GET.get("face", "")
    if not raw:
        return _page(request, job)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest("face must be a face id")
    face = Face.objects.filter(pk=int(raw), image__job_images__job=job).select_related("result").first()
    if face is None:
        audit_record("faces.search", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail="no such face")
        raise Http404("This job has no such face.")
    query = FaceQuery.of_face(face)
    if query is None:
        return _page(request, job, message="This face has no recogniser recorded: it can be compared with none.")
    return _search(request, job, query, face=face)


def _reference_search(request: HttpRequest, job: Job) -> HttpResponse:
    upload = request.FILES.get("photo")
    if upload is None:
        return _refused(request, job, "Choose a reference photo to upload.")
    try:
        reference_size_check(upload.size or 0)
        found = reference_faces(data=upload.read())
    except ReferenceRefused as exc:
        return _refused(request, job, f"Not searched: {exc}.")
    except StageUnavailable as exc:
        return _page(request, job, status=503, message=f"Face search from a photo is unavailable: {exc}", fix=exc.fix)
    finally:
        upload.close()  # a large upload's temporary file is deleted now, not at the end of the request
    if not found:
        audit_record("faces.search", job_id=job.pk, target="reference photo", results=0, detail="no face found")
        return _page(request, job, message="No face was found in the reference photo.")
    choice = request.POST.get("choose", "")
    if len(found) > 1 and not choice:
        choices = [(f.index, base64.b64encode(f.crop).decode("ascii"), f.box) for f in found]
        return _page(request, job, choices=choices)
    index = 0
    if choice:
        index = int(choice) if choice.isascii() and choice.isdigit() and len(choice) < 4 else -1
    if not 0 <= index < len(found):
        return _refused(request, job, f"Choose a face from 1 to {len(found)}.")
    return _search(request, job, found[index].query)


@require_GET
def word_search(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's images ranked by a sentence, with the classify model's text embedding."""
    job = job_or_404(request, job_id, audited="images.search")
    text = request.GET.get("q", "").strip()
    if len(text) > _SENTENCE_MAX:
        raise BadRequest(f"a sentence of at most {_SENTENCE_MAX} characters")
    context: dict[str, object] = {"job": job, "text": text}
    if text:
        try:
            context["hits"] = job_images_by_text(job=job, text=text, limit=WORD_RESULTS)
            context["veils"] = veils_for(
                user=request.user, image_ids=[h.image_id for h in context["hits"]], jobs=[job.pk]
            )
        except StageUnavailable as exc:
            context.update(unavailable=str(exc), fix=exc.fix)
        audit_record("images.search", job_id=job.pk, target=text, results=len(context.get("hits", [])))
    return render(request, "gallery/wordsearch.html", context)
