"""Job reads, and who may do what with a job (tenancy lives here and in services, never in views)."""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet

from content.models import ExifData
from content.selectors import image_ml_summaries
from jobs.models import FileInstance, Job, JobImage, JobShare

User = AbstractBaseUser | AnonymousUser


class JobAction(enum.StrEnum):
    """What a user wants to do with a job. Owner and staff may do everything; a share grants VIEW (reviewer) or
    VIEW and CHANGE (full); only the owner and staff decide who a job is shared with."""

    VIEW = "view"
    CHANGE = "change"  # start, cancel, delete
    SHARE = "share"


def verified_address_owners(*, email: str) -> QuerySet[AbstractBaseUser]:
    """The accounts (active or not) that verified the address `email` (any case). The one rule for addresses: only a
    verified address names a user; anyone may add any address to their account, and until its owner follows the
    link sent to it, it is only a claim."""
    return get_user_model().objects.filter(emailaddress__email__iexact=email, emailaddress__verified=True).distinct()


def share_recipient(*, email: str) -> AbstractBaseUser | None:
    """The active user whose verified address `email` is (any case), else None."""
    users = list(verified_address_owners(email=email).filter(is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def _role(job: Job, user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return "staff"
    if job.owner_id == user.pk:
        return "owner"
    return JobShare.objects.filter(job=job, user=user).values_list("role", flat=True).first()


def job_permissions(*, job: Job, user: User) -> frozenset[JobAction]:
    role = _role(job, user)
    if role in ("staff", "owner"):
        return frozenset(JobAction)
    if role == JobShare.Role.FULL:
        return frozenset({JobAction.VIEW, JobAction.CHANGE})
    if role == JobShare.Role.REVIEWER:
        return frozenset({JobAction.VIEW})
    return frozenset()


def job_list_for_user(*, user: User) -> QuerySet[Job]:
    """The jobs a user may see: their own, the ones shared with them; staff see every job."""
    if not user.is_authenticated or not user.is_active:
        return Job.objects.none()
    jobs = Job.objects.select_related("owner")
    if user.is_staff:
        return jobs
    return jobs.filter(Q(owner=user) | Exists(JobShare.objects.filter(job=OuterRef("pk"), user=user)))


def job_get_for_user(*, user: User, job_id: int, action: JobAction = JobAction.VIEW) -> Job:
    """The job, if the user may see it. Raises Job.DoesNotExist when the user may not see it (so that its existence
    is not disclosed) and PermissionDenied when they may see it but not do `action`."""
    job = job_list_for_user(user=user).get(pk=job_id)
    if action not in job_permissions(job=job, user=user):
        raise PermissionDenied(f"you may not {action} this job")
    return job


def job_image_ids(*, job: Job, image_ids: list[int]) -> set[int]:
    """Those of `image_ids` that the job found."""
    return set(JobImage.objects.filter(job=job, image_id__in=image_ids).values_list("image_id", flat=True))


def source_list() -> list[str]:
    """The folders a job can be created on: the top-level folders of SOURCES_ROOT that stay inside it once links
    are resolved (a link pointing out of the root is not a source)."""
    root = Path(os.path.realpath(settings.SOURCES_ROOT))
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    names = []
    for entry in entries:
        real = Path(os.path.realpath(entry.path))
        if not entry.name.startswith(".") and real.is_dir() and root in real.parents:
            names.append(entry.name)
    return names


def source_label(job: Job) -> str:
    """The job's source as the examiner chose it: relative to SOURCES_ROOT when inside it."""
    root = os.path.realpath(settings.SOURCES_ROOT)
    path = job.source_path
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def job_progress_snapshot(*, job_id: int) -> dict[str, Any]:
    """Everything a progress view shows, read from the database (so it survives any restart)."""
    return job_progress(job=Job.objects.get(pk=job_id))


def job_progress(*, job: Job) -> dict[str, Any]:
    """job_progress_snapshot of a job row just read."""
    return {
        "job": job.pk,
        "status": job.status,
        "files_seen": job.files_seen,
        "images": job.images,
        "distinct_images": job.distinct_images,
        "skipped": job.skipped,
        "errors": job.errors,
        "bytes_seen": job.bytes_seen,
        "image_types": job.image_types,
        "current_path": job.current_path,
        "discovery_finished": job.discovery_finished,
        "error": job.error,
        "stages": [
            {
                "stage": p.stage,
                "total": p.total,
                "done": p.done,
                "failed": p.failed,
                "skipped": p.skipped,
                "unavailable": p.unavailable,
                "finished": p.finished,
                "reused": p.reused,
                "message": p.message,
                "summary": p.summary,
                "gap": p.gap,
            }
            for p in job.stage_progress.all()
        ],
    }


def job_stage_gaps(*, job: Job, stages: Iterable[str]) -> dict[str, str]:
    """Of `stages`, those that did not analyse every image of the job, each with why (StageProgress.gap): those it
    could not run on some images, and those the job did not run at all."""
    progress = {p.stage: p for p in job.stage_progress.all()}
    gaps = {}
    for stage in stages:
        if stage not in progress:
            gaps[stage] = f"this job did not run the {stage} stage"
        elif progress[stage].gap:
            gaps[stage] = progress[stage].gap
    return gaps


EXPORT_FIELDS = [
    "path", "status", "error", "note", "size", "mtime", "md5", "sha1", "sha256", "mime", "format", "width", "height",
    "orientation", "gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original", "faces", "tags", "ctime",
    "btime",
]  # fmt: skip


def file_instances_for_export(*, job: Job) -> Iterator[dict[str, Any]]:
    """One record per file instance, in path order, with the image facts and EXIF summary (the CLI contract)."""
    exif_fields = ("gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original")
    versions = job.run_config.versions
    exif = ExifData.objects.filter(result__extractor_version=versions.get("exif", ""))
    rows: QuerySet = FileInstance.objects.filter(job=job).select_related("image").order_by("path", "id")
    batch: list[FileInstance] = []

    def emit(instances: list[FileInstance]) -> Iterator[dict[str, Any]]:
        found = {
            row["image_id"]: row
            for row in exif.filter(image_id__in=[i.image_id for i in instances if i.image_id]).values(
                "image_id", *exif_fields
            )
        }
        ml = image_ml_summaries(image_ids={i.image_id for i in instances if i.image_id}, versions=versions)
        for instance in instances:
            image = instance.image
            facts = found.get(instance.image_id, {})
            yield {
                "path": instance.path,
                "status": instance.status,
                "error": instance.error,
                "note": instance.note,
                "size": instance.size,
                "mtime": instance.mtime.isoformat() if instance.mtime else None,
                "md5": instance.md5,
                "sha1": instance.sha1,
                "sha256": instance.sha256,
                "mime": instance.mime,
                "format": image.format if image else "",
                "width": image.width if image else None,
                "height": image.height if image else None,
                "orientation": image.orientation if image else None,
                **{name: facts.get(name) for name in exif_fields},
                **ml.get(instance.image_id, {"faces": None, "tags": None}),
                "ctime": instance.ctime.isoformat() if instance.ctime else None,
                "btime": instance.btime.isoformat() if instance.btime else None,
            }

    for instance in rows.iterator(chunk_size=2000):
        batch.append(instance)
        if len(batch) >= 2000:
            yield from emit(batch)
            batch = []
    yield from emit(batch)
