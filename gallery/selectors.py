"""Gallery reads: keyset pages of a job's images, one image's facts, the GPS points of a job.

Every function takes a job the caller has already checked access to (jobs.access.job_get_for_user) and only
returns images that job found.

Pages are keyset-paginated: a cursor names the last row shown (and which way the sort runs), and the next page
starts strictly after it, so a page costs the same at any depth and the last, partial page is always returned. Each
image appears once, at its first path (the smallest path of the job that holds its content); with a folder or file
name filter, at its first path that the filter matches.

Every sort runs both ways ("size" smallest first, "-size" largest first). The date-taken order puts the images
without a date last either way: first those whose EXIF has no date, then those with no EXIF result at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.fields.tuple_lookups import Tuple

from content.models import Classification, ExifData, Face, Image, StageResult
from evidence.display import display_text
from gallery.cursors import CursorError, cursor_decode, cursor_encode
from gallery.filters import GalleryFilters
from gallery.folders import paths_matching
from gallery.forensic import flag_filter
from gallery.hashmatches import hash_matched, known_good_found
from hashsets.models import HashSet
from jobs.access import job_list_for_user
from jobs.hashmatching import FLAGGING_KINDS
from jobs.models import FileInstance, Job, JobImage
from jobs.similar import job_groups
from persons.selectors import person_image_ids
from review.selectors import review_filter

# The gallery's sorts, each both ways: the `sort` that gallery_page takes, and what the gallery calls it.
SORT_ORDERS = {
    "path": "path, A to Z", "-path": "path, Z to A",
    "taken": "date taken, oldest first", "-taken": "date taken, newest first",
    "size": "size, smallest first", "-size": "size, largest first",
}  # fmt: skip


@dataclass(frozen=True)
class GalleryItem:
    image_id: int
    file_id: int
    path: str
    width: int
    height: int
    size: int
    mime: str
    # Face boxes as fractions of the image as shown: (left, top, width, height), each 0-1.
    faces: tuple[tuple[float, float, float, float], ...] = ()


@dataclass(frozen=True)
class GalleryPage:
    items: list[GalleryItem]
    next_cursor: str | None


def _row(values: Sequence[Any]) -> Tuple:
    """A row value for a keyset comparison: (a, b) > (x, y) is one index range scan in PostgreSQL and SQLite."""
    return Tuple(*(Value(v) for v in values))


def _exif_version(job: Job) -> str:
    return job.run_config.version("exif")


def _exif(job: Job) -> QuerySet[ExifData]:
    """EXIF of the version this job ran with."""
    return ExifData.objects.filter(result__extractor_version=_exif_version(job))


def _paths(job: Job, filters: GalleryFilters) -> QuerySet[FileInstance]:
    """The image file instances of the job that the folder and file name filters match."""
    rows = FileInstance.objects.filter(job=job, status=FileInstance.Status.IMAGE)
    if not filters.by_path:
        return rows
    folder = filters.folder if filters.folder or not filters.subfolders else None
    return paths_matching(rows, folder=folder, subfolders=filters.subfolders, name=filters.name)


def _first_instances(job: Job, filters: GalleryFilters | None = None) -> QuerySet[FileInstance]:
    """One file instance per distinct image: the one at the image's smallest path in this job (of the paths the
    folder and file name filters match)."""
    filters = filters or GalleryFilters()
    earlier = _paths(job, filters).filter(
        Q(path__lt=OuterRef("path")) | Q(path=OuterRef("path"), id__lt=OuterRef("id")), image=OuterRef("image")
    )
    return _paths(job, filters).exclude(Exists(earlier))


def _filtered(job: Job, rows: QuerySet, filters: GalleryFilters) -> QuerySet:
    """`rows` (of any model with an `image` field) narrowed by the filters. FileInstance rows are those of
    _first_instances(job, filters), which the folder and file name filters have chosen already."""
    ref = OuterRef("image")
    if filters.by_path and rows.model is not FileInstance:
        rows = rows.filter(Exists(_paths(job, filters).filter(image=ref)))
    if filters.gps:
        rows = rows.filter(Exists(_exif(job).filter(image=ref, gps_lat__isnull=False, gps_lon__isnull=False)))
    if filters.camera:
        make, _, model = filters.camera.partition("\t")
        rows = rows.filter(Exists(_exif(job).filter(image=ref, camera_make=make, camera_model=model)))
    if filters.taken_from or filters.taken_to:
        dated = _exif(job).filter(image=ref)
        if filters.taken_from:
            dated = dated.filter(datetime_original__gte=filters.taken_from.isoformat())
        if filters.taken_to and filters.taken_to < dt.date.max:  # no day follows the last one
            dated = dated.filter(datetime_original__lt=(filters.taken_to + dt.timedelta(days=1)).isoformat())
        rows = rows.filter(Exists(dated.exclude(datetime_original="")))
    if filters.errors:
        versions = job.run_config.versions
        failed = Q()
        for stage, version in versions.items():
            failed |= Q(stage=stage, extractor_version=version)
        rows = rows.filter(Exists(StageResult.objects.filter(failed, image=ref, status=StageResult.Status.FAILED)))
    if filters.duplicates:
        instances = FileInstance.objects.filter(job=job, image=ref, status=FileInstance.Status.IMAGE)
        rows = rows.filter(Exists(instances.order_by().values("image").annotate(n=Count("id")).filter(n__gt=1)))
    if filters.faces:
        rows = rows.filter(Exists(_faces(job).filter(image=ref)))
    if filters.tag:
        classified = Classification.objects.filter(result__extractor_version=job.run_config.version("classify"))
        if connection.vendor == "postgresql":
            tagged = classified.filter(tags__contains=[{"label": filters.tag}])
        else:  # SQLite (the embedded configuration) has no JSON containment; the stored text is Django's json.dumps
            tagged = classified.filter(tags__icontains=json.dumps({"label": filters.tag})[1:-1])
        rows = rows.filter(Exists(tagged.filter(image=ref)))
    if filters.near:
        rows = rows.filter(image_id__any=list(job_groups(job=job).group))
    if filters.stack:
        rows = rows.exclude(image_id__any=[i for i, key in job_groups(job=job).group.items() if i != key])
    if filters.mime:
        rows = rows.filter(Exists(Image.objects.filter(pk=ref, mime=filters.mime)))
    if filters.flag:
        rows = rows.filter(flag_filter(job=job, flag=filters.flag))
    if filters.extension_mismatch:
        rows = rows.filter(Exists(FileInstance.objects.filter(job=job, image=ref, extension_mismatch=True)))
    # Hiding costs a look-up per image: only asked of a job that has known-good matches at all.
    if filters.known_good == "only" or (filters.known_good == "hidden" and known_good_found(job=job)):
        good = hash_matched(job, ref, [HashSet.Kind.KNOWN_GOOD]) & ~hash_matched(job, ref, FLAGGING_KINDS)
        rows = rows.exclude(good) if filters.known_good == "hidden" else rows.filter(good)
    if filters.hash_flagged:
        rows = rows.filter(hash_matched(job, ref, FLAGGING_KINDS))
    if filters.person:
        rows = rows.filter(image_id__in=person_image_ids(case_id=job.case_id, person_id=filters.person))
    if filters.category or filters.bookmarked or filters.noted or filters.reviewed:
        rows = rows.filter(
            review_filter(case=job.case, user=filters.user, category=filters.category,
                          bookmarked=filters.bookmarked, noted=filters.noted, reviewed=filters.reviewed)
        )  # fmt: skip
    return rows


def _faces(job: Job) -> QuerySet[Face]:
    """Faces found by the faces version this job ran with."""
    return Face.objects.filter(result__extractor_version=job.run_config.version("faces"))


def _items(job: Job, rows: list[FileInstance]) -> list[GalleryItem]:
    ids = [r.image_id for r in rows]
    images = {i.pk: i for i in Image.objects.filter(pk__in=ids).only("width", "height", "mime")}
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    if "faces" in job.run_config.versions:
        for image_id, x, y, w, h in (
            _faces(job)
            .filter(image_id__in=ids)
            .order_by("image_id", "index")
            .values_list("image_id", "x", "y", "width", "height")
        ):
            image = images[image_id]
            boxes.setdefault(image_id, []).append(
                (x / image.width, y / image.height, w / image.width, h / image.height)
            )
    return [
        GalleryItem(
            image_id=r.image_id,
            file_id=r.pk,
            path=r.path,
            width=images[r.image_id].width,
            height=images[r.image_id].height,
            size=r.size,
            mime=images[r.image_id].mime,
            faces=tuple(boxes.get(r.image_id, ())),
        )
        for r in rows
    ]


def gallery_page(
    *, job: Job, sort: str = "path", filters: GalleryFilters | None = None, cursor: str | None = None, limit: int = 80
) -> GalleryPage:
    """One page of the job's images in `sort` order (a key of SORT_ORDERS), starting after `cursor` (None: the first
    page). The page's `next_cursor` is None exactly when it is the last page. Raises CursorError for a cursor not
    written here, or written for another sort or the other direction."""
    filters = filters or GalleryFilters()
    if sort not in SORT_ORDERS:
        raise CursorError(f"unknown sort {sort!r}")
    descending = sort.startswith("-")
    sort = sort.removeprefix("-")
    after = cursor_decode(cursor, sort, descending=descending) if cursor else None
    if sort == "taken":
        return _taken_page(job, filters, after, limit, descending)
    rows = _filtered(job, _first_instances(job, filters), filters)
    key = ("sort_path", "id") if sort == "path" else ("size", "id")
    if after:
        keyset = Tuple(*(F(k) for k in key))
        rows = rows.alias(_key=keyset).filter(**{"_key__lt" if descending else "_key__gt": _row(after)})
    order = [f"-{k}" if descending else k for k in key]
    found = list(rows.order_by(*order).only("id", "image_id", "path", "sort_path", "size")[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    return GalleryPage(
        items=_items(job, found),
        next_cursor=cursor_encode([getattr(last, k) for k in key], descending=descending) if more and last else None,
    )


def gallery_count(*, job: Job, filters: GalleryFilters) -> int:
    """How many of the job's distinct images pass the filters."""
    return _filtered(job, JobImage.objects.filter(job=job), filters).count()


def gallery_image_ids(*, job: Job, filters: GalleryFilters) -> QuerySet:
    """The ids of every image of the job that passes the filters, unpaged ("all that match" in the gallery)."""
    return _filtered(job, JobImage.objects.filter(job=job), filters).values_list("image_id", flat=True)


# The parts of the date-taken order, in order (both ways): images with a date, images whose EXIF has no date, images
# with no EXIF result at all (the stage failed on them, or has not reached them yet).
_TAKEN_PARTS = ("d", "e", "n")


def _every_image_has_exif(job: Job) -> bool:
    """Whether every image of the job has an EXIF row of the job's version. A DONE exif result always has its row,
    and the stage's durable progress counts DONE results exactly, so this needs no scan of the images."""
    progress = job.stage_progress.filter(stage="exif").values_list("done", flat=True).first()
    return progress is not None and progress == job.distinct_images and job.discovery_finished


def _taken_part(
    job: Job, filters: GalleryFilters, part: str, after: tuple[str, int] | None, descending: bool
) -> QuerySet:
    """(date, image id) rows of one part of the date-taken order, after the given key (None: from the part's
    start), in order."""
    in_job = Exists(JobImage.objects.filter(job=job, image=OuterRef("image")))
    beyond = "lt" if descending else "gt"
    sign = "-" if descending else ""
    if part == "d":
        rows = _exif(job).filter(in_job).exclude(datetime_original="")
        if after:
            rows = (
                rows.filter(**{f"datetime_original__{beyond}e": after[0]})
                .alias(_key=Tuple(F("datetime_original"), F("image_id")))
                .filter(**{f"_key__{beyond}": _row(after)})
            )
        rows = rows.order_by(f"{sign}datetime_original", f"{sign}image_id")
    elif part == "e":
        # Ordered by the (constant) date too, so that the date index finds the few rows without one.
        rows = _exif(job).filter(in_job, datetime_original="")
        if after:
            rows = rows.filter(**{f"image_id__{beyond}": after[1]})
        rows = rows.order_by(f"{sign}datetime_original", f"{sign}image_id")
    else:
        rows = JobImage.objects.filter(job=job).exclude(Exists(_exif(job).filter(image=OuterRef("image"))))
        if after:
            rows = rows.filter(**{f"image_id__{beyond}": after[1]})
        rows = rows.annotate(datetime_original=Value("")).order_by(f"{sign}image_id")
    return _filtered(job, rows, filters).values_list("datetime_original", "image_id")


def _taken_page(job: Job, filters: GalleryFilters, after: list | None, limit: int, descending: bool) -> GalleryPage:
    """Date-taken order: images with a date (by date, then id), then those without one (by id), each part the same
    way round. The cursor says which part it is in: [part, date, id]."""
    part, bound = (after[0], (after[1], after[2])) if after else ("d", None)
    if part not in _TAKEN_PARTS:
        raise CursorError("bad cursor")
    picked: list[tuple[str, str, int]] = []
    for current in _TAKEN_PARTS[_TAKEN_PARTS.index(part) :]:
        if len(picked) > limit:
            break
        if current == "n" and _every_image_has_exif(job):
            break  # nothing can be in the last part; saves a walk over every image of the job
        rows = _taken_part(job, filters, current, bound, descending)[: limit + 1 - len(picked)]
        picked += [(current, date, image_id) for date, image_id in rows]
        bound = None
    more = len(picked) > limit
    picked = picked[:limit]
    firsts = {r.image_id: r for r in _first_instances(job, filters).filter(image_id__in=[i for _, _, i in picked])}
    rows = [firsts[i] for _, _, i in picked if i in firsts]
    return GalleryPage(
        items=_items(job, rows), next_cursor=cursor_encode(list(picked[-1]), descending=descending) if more else None
    )


@dataclass(frozen=True)
class ImageFacts:
    """Everything the side panel shows about one image of a job."""

    image: Image
    instances: list[FileInstance]
    exif: ExifData | None
    exif_rows: list[tuple[str, str, str]]
    results: list[StageResult]
    faces: list[Face] = field(default_factory=list)
    classification: Classification | None = None
    other_jobs: int = 0  # other jobs that found the same content, of those the requesting user may see

    @property
    def faces_analysed(self) -> bool:
        """Whether the faces stage has a result for this image ("no faces" is then a finding, not a gap)."""
        return any(r.stage == "faces" and r.status == StageResult.Status.DONE for r in self.results)


def _exif_rows(tags: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    rows = []
    for group, values in tags.items():
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            rows.append((group, name, text))
    return rows


def image_facts(*, job: Job, image_id: int, user: AbstractBaseUser | AnonymousUser) -> ImageFacts:
    """The image's facts, every path this job found it at, its EXIF and what produced each result, and how many
    other jobs that `user` may see found the same content (jobs they may not see are neither counted nor named).
    Raises Image.DoesNotExist when the job did not find this image."""
    if not JobImage.objects.filter(job=job, image_id=image_id).exists():
        raise Image.DoesNotExist(f"job {job.pk} has no image {image_id}")
    image = Image.objects.get(pk=image_id)
    exif = _exif(job).filter(image=image).first()
    versions = job.run_config.versions
    results = [
        r
        for r in StageResult.objects.filter(image=image, stage__in=list(versions)).order_by("stage", "-created_at")
        if versions.get(r.stage) == r.extractor_version
    ]
    return ImageFacts(
        image=image,
        instances=list(
            FileInstance.objects.filter(job=job, image=image, status=FileInstance.Status.IMAGE).order_by("path", "id")
        ),
        exif=exif,
        exif_rows=_exif_rows(exif.tags) if exif else [],
        results=results,
        faces=list(_faces(job).filter(image=image).order_by("index").defer("embedding", "crop")),
        classification=Classification.objects.filter(
            image=image, result__extractor_version=versions.get("classify", "")
        )
        .defer("embedding")
        .first(),
        other_jobs=JobImage.objects.filter(image=image, job__in=job_list_for_user(user=user).values("pk"))
        .exclude(job=job)
        .count(),
    )


def gallery_filter_options(*, job: Job) -> dict[str, list]:
    """The values the filters can take for this job: image types and cameras found. Finding them reads every image
    of the job, so they are cached: for good once the job has ended (they cannot change any more), briefly while
    it runs."""
    finished = int(job.finished_at.timestamp() * 1e6) if job.finished_at else 0
    key = f"gallery-options:1:{job.pk}:{job.status}:{job.files_seen}:{finished}"
    options = cache.get(key)
    if options is None:
        options = _filter_options(job)
        cache.set(key, options, timeout=None if job.status in Job.FINAL else 15)
    return options


def _filter_options(job: Job) -> dict[str, list]:
    mimes = (
        Image.objects.filter(Exists(JobImage.objects.filter(job=job, image=OuterRef("pk"))))
        .values_list("mime", flat=True)
        .distinct()
        .order_by("mime")
    )
    cameras = (
        _exif(job)
        .filter(Exists(JobImage.objects.filter(job=job, image=OuterRef("image"))))
        .exclude(camera_make="", camera_model="")
        .values_list("camera_make", "camera_model")
        .distinct()
        .order_by("camera_make", "camera_model")
    )
    return {
        "mimes": list(mimes),
        "cameras": [[f"{make}\t{model}", display_text(f"{make} {model}".strip())] for make, model in cameras],
    }


@dataclass(frozen=True)
class GpsPoint:
    image_id: int
    lat: float
    lon: float
    path: str


@dataclass(frozen=True)
class GpsPoints:
    points: list[GpsPoint]
    total: int  # how many of the job's images have a GPS position; more than len(points) when capped


def gps_points(*, job: Job, limit: int = 20_000) -> GpsPoints:
    """Where the job's images were taken, for the job map: the first `limit` positions (by image id), and how many
    there are in all."""
    rows = (
        _exif(job)
        .filter(Exists(JobImage.objects.filter(job=job, image=OuterRef("image"))), gps_lat__isnull=False)
        .exclude(gps_lon__isnull=True)
    )
    points = list(rows.order_by("image_id").values_list("image_id", "gps_lat", "gps_lon")[:limit])
    # Counting all of them costs a second pass over the job's EXIF: only needed when the cap was reached.
    total = rows.count() if len(points) == limit else len(points)
    paths = dict(_first_instances(job).filter(image_id__in=[p[0] for p in points]).values_list("image_id", "path"))
    return GpsPoints(
        points=[GpsPoint(image_id=i, lat=lat, lon=lon, path=paths.get(i, "")) for i, lat, lon in points], total=total
    )
