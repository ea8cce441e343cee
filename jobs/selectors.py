"""Job reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from gallery.models import ExifData
from gallery.selectors import image_ml_summaries
from jobs.models import FileInstance, Job


def job_progress_snapshot(*, job_id: int) -> dict[str, Any]:
    """Everything a progress view shows, read from the database (so it survives any restart)."""
    job = Job.objects.get(pk=job_id)
    return {
        "job": job.pk,
        "status": job.status,
        "files_seen": job.files_seen,
        "images": job.images,
        "distinct_images": job.distinct_images,
        "skipped": job.skipped,
        "errors": job.errors,
        "bytes_seen": job.bytes_seen,
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
                "reused": p.reused,
                "message": p.message,
            }
            for p in job.stage_progress.all()
        ],
    }


EXPORT_FIELDS = [
    "path", "status", "error", "note", "size", "mtime", "md5", "sha1", "sha256", "mime", "format", "width", "height",
    "orientation", "gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original", "faces", "tags",
]  # fmt: skip


def file_instances_for_export(*, job: Job) -> Iterator[dict[str, Any]]:
    """One record per file instance, in path order, with the image facts and EXIF summary (the CLI contract)."""
    exif_fields = ("gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original")
    versions = job.config.get("versions", {})
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
            }

    for instance in rows.iterator(chunk_size=2000):
        batch.append(instance)
        if len(batch) >= 2000:
            yield from emit(batch)
            batch = []
    yield from emit(batch)
