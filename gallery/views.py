"""Gallery pages and the routes that serve pictures and originals. Every route takes ids only (never a path) and
checks access to the job first: an image, thumbnail or original is served only to a user who may see a job that
found it, and is a 404 otherwise."""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import asdict
from typing import NoReturn
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.services import audit_record
from cases.selectors import case_categories
from content.models import Face, Image
from extractors.classify import vocabulary_read
from gallery.cursors import CursorError, storable
from gallery.filters import FilterError, GalleryFilters
from gallery.folders import folder_level
from gallery.forensic import flag_choices, forensic_panel
from gallery.hashmatches import hash_flagged_images, image_hash_matches, known_good_found
from gallery.review_selectors import (
    categories_json,
    counters_json,
    may_write,
    panel_review,
    tile_decisions,
)
from gallery.selectors import (
    SORT_ORDERS,
    gallery_count,
    gallery_filter_options,
    gallery_page,
    gps_points,
    image_facts,
)
from gallery.similar import stack_sizes
from gallery.thumbnails import PictureError, picture_get
from jobs.evidence_files import EvidenceUnavailable, open_file_instance
from jobs.hashmatching import FLAGGING_KINDS
from jobs.models import FileInstance, Job
from jobs.progress.snapshot import job_stage_gaps
from jobs.selectors import source_label
from jobs.veils import veils_for
from jobs.views import image_or_404, job_or_404
from persons.selectors import person_strip
from review.selectors import viewer_setting

# The stages whose results the gallery's filters and panel show.
GALLERY_STAGES = ("exif", "faces", "classify", "forensic", "pdq")
FILTER_FIELDS = (
    "gps", "faces", "tag", "errors", "duplicates", "type", "camera", "from", "to", "mismatch",
    "folder", "direct", "name", "flag", "known_good", "hashmatch", "near", "stack", "person",
)  # fmt: skip
REVIEW_FILTER_FIELDS = ("category", "bookmarked", "noted", "reviewed")


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _number(value: str | None) -> int:
    """A whole number from the query (0 when absent); FilterError for anything else."""
    if not value:
        return 0
    if not value.isascii() or not value.isdigit():
        raise FilterError(f"{value!r} is no number")
    return int(value)


def _malformed(job: Job, what: str) -> NoReturn:
    """Refuse a gallery request whose parameters cannot be used (400), recorded like every refusal."""
    audit_record("job.view", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail=what)
    raise BadRequest(what)


def _filters(request: HttpRequest, job: Job) -> GalleryFilters:
    q = request.GET
    try:
        return GalleryFilters(
            gps=q.get("gps") == "1",
            errors=q.get("errors") == "1",
            duplicates=q.get("duplicates") == "1",
            mime=q.get("type", ""),
            camera=q.get("camera", ""),
            taken_from=_date(q.get("from")),
            taken_to=_date(q.get("to")),
            faces=q.get("faces") == "1",
            tag=q.get("tag", "").strip(),
            extension_mismatch=q.get("mismatch") == "1",
            folder=q.get("folder", "").strip("/"),
            subfolders=q.get("direct") != "1",
            name=q.get("name", "").strip(),
            category=q.get("category", "").strip(),
            bookmarked=q.get("bookmarked") == "1",
            noted=q.get("noted") == "1",
            reviewed=q.get("reviewed", ""),
            flag=q.get("flag", ""),
            known_good=q.get("known_good") or "hidden",
            hash_flagged=q.get("hashmatch") == "1",
            near=q.get("near") == "1",
            stack=q.get("stack") == "1",
            person=_number(q.get("person")),
            user=request.user,
        )
    except FilterError as exc:
        _malformed(job, str(exc))


def _sort(request: HttpRequest) -> str:
    sort = request.GET.get("sort", "path")
    return sort if sort in SORT_ORDERS else "path"


def _query(request: HttpRequest) -> str:
    """The gallery's sort and filters, to carry into the next page's URL."""
    keep = {k: request.GET[k] for k in ("sort", *FILTER_FIELDS, *REVIEW_FILTER_FIELDS) if request.GET.get(k)}
    return urlencode(keep)


def _page(request: HttpRequest, job: Job):
    try:
        return gallery_page(
            job=job,
            sort=_sort(request),
            filters=_filters(request, job),
            cursor=request.GET.get("cursor") or None,
            limit=settings.GALLERY_PAGE_SIZE,
        )
    except CursorError:
        _malformed(job, "bad page cursor")


@require_GET
def gallery(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id)
    filters = _filters(request, job)
    gaps = job_stage_gaps(job=job, stages=GALLERY_STAGES)
    page = _page(request, job)
    hides = filters.known_good == "hidden" and known_good_found(job=job)
    persons = list(person_strip(case_id=job.case_id))
    faces = [person.representative_id for person in persons if person.representative_id]
    persons_veils = veils_for(user=request.user, cases=[job.case_id], faces=faces)
    return render(
        request,
        "gallery/gallery.html",
        {
            **_tiles_review(request, job, page),
            "categories": case_categories(case=job.case),
            "categories_json": categories_json(job=job),
            "may_write": may_write(job=job, user=request.user),
            "counters": counters_json(job=job, user=request.user),
            "job": job,
            "gaps": gaps,
            "unanswered": [gaps[stage] for stage in sorted(filters.stages_read) if stage in gaps],
            "count": gallery_count(job=job, filters=filters) if filters.active or hides else job.distinct_images,
            "hides_known_good": hides,
            "source": source_label(job),
            "page": page,
            "query": _query(request),
            "sort": _sort(request),
            "sorts": SORT_ORDERS,
            "filters": filters,
            "params": request.GET,
            "tags": _vocabulary_labels(),
            "flag_choices": flag_choices(),
            "persons": persons,
            "veils": persons_veils,
            "map_tiles": settings.MAP_TILE_URL,
            "map_attribution": settings.MAP_TILE_ATTRIBUTION,
        },
    )


@require_GET
def gallery_options(request: HttpRequest, job_id: int) -> JsonResponse:
    """The image types and cameras of the job, for the filter menus (loaded when first opened: finding them reads
    every image of the job, which the gallery page itself must not wait for)."""
    job = job_or_404(request, job_id)
    return JsonResponse(gallery_filter_options(job=job))


@require_GET
def gallery_folders(request: HttpRequest, job_id: int) -> JsonResponse:
    """One level of the folder tree: the folders in `parent` ("" for the source) that hold images, with their counts,
    a page at a time (`after`: the last folder name of the page before)."""
    job = job_or_404(request, job_id)
    parent, after = request.GET.get("parent", "").strip("/"), request.GET.get("after", "")
    if not (storable(parent) and storable(after)):
        _malformed(job, "a folder holds a character no stored path has")
    level = folder_level(job=job, parent=parent, after=after)
    return JsonResponse(
        {
            "parent": parent,
            "images_here": level.images_here,
            "folders": [asdict(folder) for folder in level.folders],
            "next_after": level.next_after,
        }
    )


@require_GET
def gallery_more(request: HttpRequest, job_id: int) -> HttpResponse:
    """The next page of tiles, as an HTML fragment the infinite scroll appends."""
    job = job_or_404(request, job_id)
    page = _page(request, job)
    return render(
        request,
        "gallery/_tiles.html",
        {"job": job, "page": page, "query": _query(request), **_tiles_review(request, job, page)},
    )


def _tiles_review(request: HttpRequest, job: Job, page) -> dict:
    """What the tiles show of review: each image's decision, the images a known-bad or alert hash set matched
    (badged, and veiled for everyone), and the user's exposure reduction; with stacking, how many images each stacked
    tile stands for."""
    ids = [item.image_id for item in page.items]
    return {
        "decisions": tile_decisions(job=job, user=request.user, image_ids=ids),
        "flagged": hash_flagged_images(job=job, image_ids=ids),
        "viewer": viewer_setting(user=request.user),
        "stacks": stack_sizes(job=job, image_ids=ids) if request.GET.get("stack") == "1" else {},
    }


def _vocabulary_labels() -> list[str]:
    """The classify stage's tags, offered in the tag filter."""
    try:
        return list(vocabulary_read(settings.CLASSIFY_VOCABULARY).labels)
    except (OSError, ValueError):
        return []


@require_GET
def image_panel(request: HttpRequest, job_id: int, image_id: int) -> HttpResponse:
    """The side panel: basic info, EXIF, location and faces of one image."""
    job = job_or_404(request, job_id)
    try:
        facts = image_facts(job=job, image_id=image_id, user=request.user)
    except Image.DoesNotExist:
        audit_record("image.view", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail="no such image",
                     image=image_id)  # fmt: skip
        raise Http404("This job has no such image.") from None
    matches = image_hash_matches(job=job, image_id=image_id)
    return render(
        request,
        "gallery/_panel.html",
        {
            "job": job,
            "gaps": job_stage_gaps(job=job, stages=GALLERY_STAGES),
            "facts": facts,
            "review": panel_review(job=job, user=request.user, image_id=image_id),
            "hash_matches": matches,
            "hash_flagged": any(kind in FLAGGING_KINDS for _, kind, _ in matches),
            "viewer": viewer_setting(user=request.user),
            "image": facts.image,
            "exif": facts.exif,
            "forensic": forensic_panel(job=job, image_id=image_id, instances=facts.instances),
            "map_tiles": settings.MAP_TILE_URL,
            "map_attribution": settings.MAP_TILE_ATTRIBUTION,
        },
    )


def _picture(request: HttpRequest, job_id: int, image_id: int, size: str) -> HttpResponse:
    job = job_or_404(request, job_id)
    image = image_or_404(job, image_id, f"image.{size}")
    etag = f'"{image.sha256}-{size}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        try:
            path = picture_get(job=job, image=image, size=size)
        except (EvidenceUnavailable, PictureError) as exc:
            response = HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")
            patch_cache_control(response, private=True, no_store=True)
            return response
        response = FileResponse(open(path, "rb"), content_type="image/webp")  # noqa: SIM115 - closed by Django
    response["ETag"] = etag
    # The picture of a content never changes (its name is the content's hash); only this user may reuse it.
    patch_cache_control(response, private=True, max_age=365 * 24 * 3600, immutable=True)
    return response


@require_GET
def thumbnail(request: HttpRequest, job_id: int, image_id: int) -> HttpResponse:
    return _picture(request, job_id, image_id, "thumb")


@require_GET
def preview(request: HttpRequest, job_id: int, image_id: int) -> HttpResponse:
    return _picture(request, job_id, image_id, "preview")


@require_GET
# An original is shown as a bare document: nothing in it may run or load anything.
@csp_replace({"default-src": ["'none'"], "img-src": ["'self'"], "sandbox": True})
def original(request: HttpRequest, job_id: int, file_id: int) -> HttpResponse:
    """The evidence file exactly as found, only on an explicit request: shown in the browser (images) or
    downloaded (`?download=1`, any regular file). Never cached; its recorded SHA-256 travels in Repr-Digest."""
    job = job_or_404(request, job_id)
    download = request.GET.get("download") == "1"
    try:
        instance = FileInstance.objects.get(pk=file_id, job=job, kind="file")
    except FileInstance.DoesNotExist:
        action = "file.download" if download else "file.view"
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail="no such file", file_id=file_id)
        raise Http404("This job has no such file.") from None
    download = download or instance.status != FileInstance.Status.IMAGE
    action = "file.download" if download else "file.view"
    try:
        fp = open_file_instance(job=job, instance=instance)
    except EvidenceUnavailable as exc:
        audit_record(action, outcome=AuditEvent.Outcome.FAILED, job_id=job.pk, target=instance.path, detail=str(exc))
        response = HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")
        patch_cache_control(response, private=True, no_store=True)
        return response
    content_type = instance.mime if instance.status == FileInstance.Status.IMAGE else "application/octet-stream"
    response = FileResponse(
        fp,
        content_type=content_type,
        as_attachment=download,
        filename=os.path.basename(instance.path) or f"file-{instance.pk}",
    )
    audit_record(
        action, job_id=job.pk, target=instance.path, file_id=instance.pk, size=instance.size, sha256=instance.sha256
    )
    if instance.sha256:
        response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(instance.sha256)).decode()}:"
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_GET
def face_crop(request: HttpRequest, job_id: int, face_id: int) -> HttpResponse:
    """The small picture of one face the faces stage kept, for the faces pane."""
    job = job_or_404(request, job_id)
    face = Face.objects.filter(pk=face_id, image__job_images__job=job).only("crop").first()
    if face is None or not face.crop:
        audit_record(
            "face.view", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail="no such face", face=face_id
        )
        raise Http404("This job has no such face.")
    response = HttpResponse(bytes(face.crop), content_type="image/jpeg")
    patch_cache_control(response, private=True, max_age=365 * 24 * 3600, immutable=True)
    return response


@require_GET
def job_map(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(request, job_id)
    return render(
        request,
        "gallery/map.html",
        {
            "job": job,
            "source": source_label(job),
            "map_tiles": settings.MAP_TILE_URL,
            "map_attribution": settings.MAP_TILE_ATTRIBUTION,
        },
    )


@require_GET
def job_map_points(request: HttpRequest, job_id: int) -> JsonResponse:
    job = job_or_404(request, job_id)
    found = gps_points(job=job, limit=settings.MAP_MAX_POINTS)
    return JsonResponse({"points": [[p.image_id, p.lat, p.lon, p.path] for p in found.points], "total": found.total})
