"""API reads: a user's tokens, paused queues, keyset pages of the jobs a user may see, and a page of a job's
images with everything the stages found in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.fields.tuple_lookups import Tuple

from api.models import ApiToken, QueuePause
from content.models import Classification, ExifData, Face, Image, StageResult
from jobs.access import job_list_for_user
from jobs.models import FileInstance, Job, JobImage

# order -> (sort fields, whether they run descending)
JOB_ORDERS: dict[str, tuple[tuple[str, str], bool]] = {
    "newest": (("created_at", "id"), True),
    "oldest": (("created_at", "id"), False),
    "name": (("name", "id"), False),
}


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def queue_pauses() -> dict[str, dict[str, QueuePause]]:
    """worker -> queue -> its pause record."""
    found: dict[str, dict[str, QueuePause]] = {}
    for pause in QueuePause.objects.all():
        found.setdefault(pause.worker, {})[pause.queue] = pause
    return found


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    # The sort key of the last job, when there are more after it.
    next_key: tuple | None


def job_page_for_user(
    *, user: AbstractBaseUser | AnonymousUser, order: str, after: tuple | None, limit: int
) -> JobPage:
    """`limit` jobs the user may see in `order`, strictly after the key `after` (None: from the start), which is a
    `next_key` of an earlier page in the same order (JSON-safe values). Keyset paging: jobs created meanwhile never
    shift a page, so no job is repeated or skipped. Raises ValueError for a key of another shape."""
    fields, descending = JOB_ORDERS[order]
    rows = job_list_for_user(user=user).select_related("owner").prefetch_related("stage_progress")
    if after is not None:
        row = Tuple(*(F(f) for f in fields))
        key = Tuple(*(Value(v) for v in _key_parse(fields, after)))
        rows = rows.alias(_key=row).filter(**{"_key__lt" if descending else "_key__gt": key})
    found = list(rows.order_by(*(f"-{f}" if descending else f for f in fields))[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    next_key = tuple(_key_value(getattr(found[-1], f)) for f in fields) if more and found else None
    return JobPage(jobs=found, next_key=next_key)


def _key_value(value: datetime | str | int) -> str | int:
    return value.isoformat() if isinstance(value, datetime) else value


def _key_parse(fields: tuple[str, ...], values: tuple) -> list[datetime | str | int]:
    if len(values) != len(fields):
        raise ValueError("bad key")
    parsed: list[datetime | str | int] = []
    for name, value in zip(fields, values, strict=True):
        if name == "created_at":
            parsed.append(datetime.fromisoformat(value))
        elif name == "id":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("bad key")
            parsed.append(value)
        else:
            parsed.append(str(value))
    return parsed


@dataclass(frozen=True)
class ImageRecord:
    """One image of a job with what the job's stage versions found in it."""

    image: Image
    instances: int
    exif: ExifData | None
    faces: list[Face] = field(default_factory=list)
    classification: Classification | None = None
    results: list[StageResult] = field(default_factory=list)


def job_image_records(*, job: Job, image_ids: list[int], exif_tags: bool = False) -> dict[int, ImageRecord]:
    """The images (of those ids that the job found) with their EXIF, faces, tags and the provenance of every
    result, for the extractor versions the job ran with. A fixed number of queries, whatever the number of ids."""
    ids = list(JobImage.objects.filter(job=job, image_id__in=image_ids).values_list("image_id", flat=True))
    versions = job.run_config.versions
    images = Image.objects.in_bulk(ids)
    counts = dict(
        FileInstance.objects.filter(job=job, image_id__in=ids, status=FileInstance.Status.IMAGE)
        .order_by()
        .values("image_id")
        .annotate(n=Count("id"))
        .values_list("image_id", "n")
    )
    exif_rows = ExifData.objects.filter(image_id__in=ids, result__extractor_version=job.run_config.version("exif"))
    exif = {row.image_id: row for row in (exif_rows if exif_tags else exif_rows.defer("tags"))}
    faces: dict[int, list[Face]] = {}
    if "faces" in versions:
        for face in (
            Face.objects.filter(image_id__in=ids, result__extractor_version=versions["faces"])
            .defer("embedding", "crop", "landmarks")
            .order_by("image_id", "index")
        ):
            faces.setdefault(face.image_id, []).append(face)
    classifications = {}
    if "classify" in versions:
        classifications = {
            c.image_id: c
            for c in Classification.objects.filter(
                image_id__in=ids, result__extractor_version=versions["classify"]
            ).defer("embedding")
        }
    results: dict[int, list[StageResult]] = {}
    if versions:
        of_job = Q()
        for stage, version in versions.items():
            of_job |= Q(stage=stage, extractor_version=version)
        for result in (
            StageResult.objects.filter(of_job, image_id__in=ids).defer("params").order_by("image_id", "stage")
        ):
            results.setdefault(result.image_id, []).append(result)
    return {
        i: ImageRecord(
            image=images[i],
            instances=counts.get(i, 0),
            exif=exif.get(i),
            faces=faces.get(i, []),
            classification=classifications.get(i),
            results=results.get(i, []),
        )
        for i in ids
    }
