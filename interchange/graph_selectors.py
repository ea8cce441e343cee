"""Reads for the CASE/UCO graph (interchange.caseuco): the files of an export's jobs, their scans, the provenance of
every stage result of their images and what the case's members did about them, read a batch of images at a time.

The caller has checked that whoever asks may see the case: everything read here is of the scope's jobs and case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max

from audit.services import user_name
from content.models import Classification, ExifData, Face, ForensicFlags, PdqHash, StageResult
from evidence.display import display_text
from interchange.caseuco import FileFacts, ReviewFacts, ScanFacts, StageFacts
from interchange.selectors import BATCH, ExportScope
from jobs.models import FileInstance, JobImage
from review.models import Bookmark, CategoryChange, Note
from review.selectors import HASH_SET_PROPOSER

# Tags an annotation names, best first.
TAGS_SHOWN = 10


def file_bound(scope: ExportScope) -> int:
    """The highest file instance id of the scope's jobs now: every read of one export stops there, so a file a
    running scan adds meanwhile is in none of them (never referenced without its node)."""
    return FileInstance.objects.filter(job__in=scope.jobs).aggregate(top=Max("id"))["top"] or 0


def scope_files(scope: ExportScope, bound: int) -> Iterator[FileFacts]:
    """Every file instance of the scope's jobs up to `bound`, by job and path."""
    rows = FileInstance.objects.filter(job__in=scope.jobs, id__lte=bound).order_by("job_id", "path", "id")
    fields = ("id", "path", "size", "mime", "md5", "sha1", "sha256", "mtime", "ctime", "btime")
    for row in rows.values_list(*fields).iterator(chunk_size=BATCH * 2):
        yield FileFacts(*row)


def scope_scans(scope: ExportScope) -> list[ScanFacts]:
    return [
        ScanFacts(key=job.pk, name=job.name, source=job.source_path, exhibit=job.exhibit,
                  owner=user_name(job.owner) if job.owner else "", started=job.started_at, finished=job.finished_at)
        for job in scope.jobs.select_related("owner").order_by("id")
    ]  # fmt: skip


def job_file_keys(job_id: int, bound: int) -> Iterator[int]:
    """The ids of the job's file instances up to `bound`, by path (as scope_files writes them)."""
    rows = FileInstance.objects.filter(job_id=job_id, id__lte=bound).order_by("path", "id").values_list("id", flat=True)
    return rows.iterator(chunk_size=BATCH * 5)


@dataclass(frozen=True)
class _Run:
    """A job of the scope as a stage result's provenance needs it: who ran it, and when."""

    owner: str
    started: dt.datetime
    finished: dt.datetime | None

    def made(self, at: dt.datetime) -> bool:
        """Whether a result stored at `at` was made while this job ran (a running job: since it started)."""
        return self.started <= at and (self.finished is None or at <= self.finished)


def image_actions(scope: ExportScope, bound: int) -> Iterator[StageFacts | ReviewFacts]:
    """The provenance of each stage result (at the versions the scope's jobs ran) of each image of the scope with
    a file up to `bound`, and every category change, note and bookmark of the case about it, oldest first per image
    batch."""
    jobs = list(scope.jobs.select_related("owner"))
    runs = {
        job.pk: _Run(owner=user_name(job.owner) if job.owner else "", started=job.started_at or job.created_at,
                     finished=job.finished_at)
        for job in jobs
    }  # fmt: skip
    ran = {(stage, version) for job in jobs for stage, version in job.run_config.versions.items()}
    ids = JobImage.objects.filter(job__in=scope.jobs).order_by("image_id").values_list("image_id", flat=True).distinct()
    batch: list[int] = []
    for image_id in ids.iterator(chunk_size=BATCH):
        batch.append(image_id)
        if len(batch) >= BATCH:
            yield from _batch(scope, batch, bound, runs, ran)
            batch = []
    if batch:
        yield from _batch(scope, batch, bound, runs, ran)


def _batch(
    scope: ExportScope, ids: list[int], bound: int, runs: dict[int, _Run], ran: set[tuple[str, str]]
) -> Iterator[StageFacts | ReviewFacts]:
    files: dict[int, list[int]] = {}
    found_by: dict[int, list[int]] = {}
    instances = FileInstance.objects.filter(job__in=scope.jobs, image_id__in=ids, id__lte=bound)
    for file_id, image_id, job_id in instances.order_by("job_id", "path", "id").values_list("id", "image_id", "job_id"):
        files.setdefault(image_id, []).append(file_id)
        if job_id not in found_by.setdefault(image_id, []):
            found_by[image_id].append(job_id)
    ids = [image_id for image_id in ids if image_id in files]  # an image whose files came after the bound: none
    results = [
        row
        for row in StageResult.objects.filter(image_id__in=ids, stage__in={stage for stage, _ in ran}).order_by(
            "image_id", "stage", "id"
        )
        if (row.stage, row.extractor_version) in ran
    ]
    found = _findings([row.pk for row in results if row.status == StageResult.Status.DONE])
    for row in results:
        jobs = [runs[job_id] for job_id in found_by[row.image_id]]
        made = next((run for run in jobs if run.made(row.created_at)), None)
        yield StageFacts(
            key=row.pk, stage=row.stage, version=row.extractor_version, status=row.status, error=row.error,
            model_name=row.model_name, model_sha256=row.model_sha256, params=row.params or {},
            at=row.created_at if made else jobs[0].started, performer=made.owner if made else "", reused=made is None,
            files=tuple(files[row.image_id]),
            statement=found.get(row.pk, f"{row.stage}: done" if row.status == StageResult.Status.DONE else ""),
        )  # fmt: skip
    yield from _reviews(scope, ids, files)


def _findings(result_ids: list[int]) -> dict[int, str]:
    """What each done stage result found, in a sentence."""
    said: dict[int, str] = {}
    for row in ExifData.objects.filter(result_id__in=result_ids).values(
        "result_id", "camera_make", "camera_model", "datetime_original", "gps_lat", "gps_lon"
    ):
        said[row["result_id"]] = _exif(row)
    for result_id, n in (
        Face.objects.filter(result_id__in=result_ids)
        .values("result_id")
        .annotate(n=Count("id"))
        .values_list("result_id", "n")
    ):
        said[result_id] = f"{n} face{'s' if n != 1 else ''} found"
    for result_id, tags in Classification.objects.filter(result_id__in=result_ids).values_list("result_id", "tags"):
        shown = "; ".join(f"{display_text(str(t['label']))} ({t['score']:.2f})" for t in tags[:TAGS_SHOWN])
        said[result_id] = f"tags: {shown}" if shown else "no tags"
    for result_id, digest, quality in PdqHash.objects.filter(result_id__in=result_ids).values_list(
        "result_id", "hash", "quality"
    ):
        said[result_id] = f"PDQ {digest}, quality {quality}"
    for result_id, flags in ForensicFlags.objects.filter(result_id__in=result_ids).values_list("result_id", "flags"):
        said[result_id] = "flags: " + "; ".join(str(flag["code"]) for flag in flags) if flags else "no forensic flags"
    return said


def _exif(row: dict[str, Any]) -> str:
    parts = []
    camera = " ".join(display_text(row[key]) for key in ("camera_make", "camera_model") if row[key])
    if camera:
        parts.append(f"camera {camera}")
    if row["datetime_original"]:
        parts.append(f"taken {display_text(row['datetime_original'])}")
    if row["gps_lat"] is not None and row["gps_lon"] is not None:
        parts.append(f"GPS {row['gps_lat']:.6f}, {row['gps_lon']:.6f}")
    return "EXIF: " + "; ".join(parts) if parts else "EXIF: no camera, time or position"


def _reviews(scope: ExportScope, ids: list[int], files: dict[int, list[int]]) -> Iterator[ReviewFacts]:
    changes = CategoryChange.objects.filter(case=scope.case, image_id__in=ids).select_related("before", "after")
    for change in changes.order_by("id"):
        by_hash_set = change.user_id is None and change.user_label.startswith(HASH_SET_PROPOSER)
        if change.action == CategoryChange.Action.CLEAR:
            said = f"category {change.before.code} ({change.before.label}) taken away" if change.before else ""
        else:
            said = f"category {change.after.code} ({change.after.label}), {change.after_status}"
        yield ReviewFacts(key=f"change {change.pk}", name=f"category {change.action}", by=change.user_label,
                          by_hash_set=by_hash_set, at=change.at, statement=said,
                          files=tuple(files.get(change.image_id, ())))  # fmt: skip
    for note in Note.objects.filter(case=scope.case, image_id__in=ids).order_by("id"):
        yield ReviewFacts(key=f"note {note.pk}", name="note", by=note.author_label, by_hash_set=False,
                          at=note.created_at, statement=note.text,
                          files=tuple(files.get(note.image_id, ())))  # fmt: skip
    for mark in Bookmark.objects.filter(case=scope.case, image_id__in=ids).select_related("user").order_by("id"):
        yield ReviewFacts(key=f"bookmark {mark.pk}", name="bookmark", by=user_name(mark.user), by_hash_set=False,
                          at=mark.created_at, statement="", files=tuple(files.get(mark.image_id, ())))  # fmt: skip
