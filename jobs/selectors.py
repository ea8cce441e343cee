"""Job reads: the sources a job can scan and who may scan them, its progress, its export records. Who may see a job
is jobs.access."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from cases.models import Case, CaseSource
from cases.selectors import WORKING_ROLES
from content.models import ExifData
from content.selectors import image_ml_summaries
from jobs.models import FileInstance, Job, JobImage


def source_folders() -> list[str]:
    """The folders a job can be created on, whoever creates it: the top-level folders of SOURCES_ROOT that stay
    inside it once links are resolved (a link pointing out of the root is not a source)."""
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


def source_list(*, user: AbstractBaseUser | AnonymousUser | None, case: Case | None = None) -> list[str]:
    """The sources `user` may scan (into `case`, where one is named): the one rule of who may start a job on what,
    which the web form, the API and the command line ask. Staff may scan every source folder, into any case they
    choose; anyone else only the sources staff assigned to the cases they lead or examine in: for a job in `case`,
    those assigned to it; for a job in a case of its own (no case), those of any of their cases. A reviewer is
    offered none. None: the operator at the command line, who may scan any folder."""
    folders = source_folders()
    if user is None:
        return folders
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_staff:
        return folders
    assigned = CaseSource.objects.filter(case__members__user=user, case__members__role__in=WORKING_ROLES)
    if case is not None:
        assigned = assigned.filter(case=case)
    names = set(assigned.values_list("name", flat=True))
    return [name for name in folders if name in names]


def sources_held(path: str | os.PathLike) -> list[str]:
    """The sources the folder `path` lies in or holds, once links are resolved: the one it lies in, when inside
    SOURCES_ROOT; every one, when it is SOURCES_ROOT or a folder above it; none, when it lies anywhere else."""
    root = os.path.realpath(settings.SOURCES_ROOT)
    real = os.path.realpath(path)
    if real.startswith(root + os.sep):
        return [os.path.relpath(real, root).split(os.sep)[0]]
    if real == root or root.startswith(real.rstrip(os.sep) + os.sep):
        return source_folders()
    return []


def source_label(job: Job) -> str:
    """The job's source as the examiner chose it: relative to SOURCES_ROOT when inside it."""
    root = os.path.realpath(settings.SOURCES_ROOT)
    path = job.source_path
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


EXPORT_FIELDS = [
    "path", "status", "error", "note", "size", "mtime", "md5", "sha1", "sha256", "mime", "format", "width", "height",
    "orientation", "gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original", "faces", "tags", "ctime",
    "btime", "case",
]  # fmt: skip


def file_instances_for_export(*, job: Job) -> Iterator[dict[str, Any]]:
    """One record per file instance, in path order, with the image facts and EXIF summary (the CLI contract)."""
    exif_fields = ("gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original")
    versions = job.run_config.versions
    case = Case.objects.filter(pk=job.case_id).values_list("reference", flat=True).first()
    exif = ExifData.objects.filter(result__extractor_version=job.run_config.version("exif"))
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
                "case": case,
            }

    for instance in rows.iterator(chunk_size=2000):
        batch.append(instance)
        if len(batch) >= 2000:
            yield from emit(batch)
            batch = []
    yield from emit(batch)


def case_image_ids(*, case_id: int) -> QuerySet:
    """The ids of the distinct images the jobs of the case found: what review decisions may be made about (review
    services and selectors take images the caller checked against this)."""
    return JobImage.objects.filter(job__case_id=case_id).values("image_id").distinct()
