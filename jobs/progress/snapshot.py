"""A job's progress now, read from the database: the counts a CLI or page shows (`job_progress_snapshot`), what a
stage left unanalysed (`job_stage_gaps`), and the live event a browser receives (`progress_event`).

Everything is read from the rows, so it holds absolute counts and survives any restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired, TypedDict

from django.db.models import F, Sum
from django.utils import timezone

from jobs.models import BatchStage, FileInstance, Job
from jobs.selectors import hash_match_counts

NEWEST_ERRORS = 5
RATE_WINDOW = timedelta(seconds=60)
_STATUS_RANK = {status: rank for rank, status in enumerate(Job.Status)}


class StageState(TypedDict):
    stage: str
    total: int
    done: int
    failed: int
    skipped: int
    unavailable: int
    finished: int  # StageProgress.finished
    reused: int
    message: str
    summary: str  # StageProgress.summary
    gap: str  # StageProgress.gap
    rate: float  # images analysed per second over the last minute (reused results not counted)
    eta_seconds: float | None  # None while nothing was analysed yet; a lower bound until discovery finishes


class FileError(TypedDict):
    path: str
    error: str


class ProgressEvent(TypedDict):
    """What a job looks like now. `type` is "snapshot" when sent on connect, "progress" for the deltas after it,
    "deleted" when the job is gone (then only `job` is set). `seq` never decreases while a job runs: a browser
    drops an event older than the state it shows."""

    type: Literal["snapshot", "progress", "deleted"]
    job: int
    seq: NotRequired[int]
    status: NotRequired[str]
    error: NotRequired[str]
    files_seen: NotRequired[int]
    images: NotRequired[int]
    distinct_images: NotRequired[int]
    skipped: NotRequired[int]
    errors: NotRequired[int]
    bytes_seen: NotRequired[int]
    image_types: NotRequired[dict[str, int]]
    current_path: NotRequired[str]
    discovery_finished: NotRequired[bool]
    files_per_second: NotRequired[float]
    elapsed_seconds: NotRequired[float]
    stages: NotRequired[list[StageState]]
    newest_errors: NotRequired[list[FileError]]
    # Files a hash set matched, by the set's kind (jobs.selectors.HASH_MATCH_KINDS).
    hash_matches: NotRequired[dict[str, int]]
    # What the active job waits for that no worker will bring (jobs.progress.waiting). Added by the web process, which
    # asks the broker, to what it sends a browser.
    waiting: NotRequired[list[str]]


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
        "hash_matches": hash_match_counts(jobs=Job.objects.filter(pk=job.pk)),
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


def _recent_rates(job_id: int, *, now: datetime, elapsed: float) -> dict[str, float]:
    """Images analysed per second by each stage over the last RATE_WINDOW (reused results not counted): the pace
    now, which is what an ETA needs, read from the batches' finish times so that every reader agrees."""
    window = min(RATE_WINDOW.total_seconds(), elapsed)
    if window <= 0:
        return {}
    rows = (
        BatchStage.objects.filter(batch__job_id=job_id, finished=True, finished_at__gte=now - RATE_WINDOW)
        .values("stage")
        .annotate(analysed=Sum(F("done") + F("failed") + F("skipped") - F("reused")))
    )
    return {row["stage"]: max(row["analysed"] or 0, 0) / window for row in rows}


def _stage_state(p: dict, *, rate: float, discovery_finished: bool) -> StageState:
    remaining = max(p["total"] - p["finished"], 0)
    eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 and discovery_finished else None)
    return StageState(**p, rate=round(rate, 2), eta_seconds=None if eta is None else round(eta, 1))


def progress_event(*, job_id: int, kind: Literal["snapshot", "progress"] = "progress") -> ProgressEvent:
    """The job's state as the browser shows it, read from the database. Raises Job.DoesNotExist."""
    job = Job.objects.get(pk=job_id)
    s = job_progress(job=job)
    now = job.finished_at or timezone.now()
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    rates = _recent_rates(job_id, now=now, elapsed=elapsed) if s["status"] in Job.ACTIVE else {}
    stages = [
        _stage_state(p, rate=rates.get(p["stage"], 0.0), discovery_finished=s["discovery_finished"])
        for p in s["stages"]
    ]
    newest = (
        FileInstance.objects.filter(job_id=job_id, status=FileInstance.Status.ERROR)
        .order_by("-id")
        .values("path", "error")[:NEWEST_ERRORS]
        if s["errors"]
        else []
    )
    seq = s["files_seen"] + sum(p["total"] + p["finished"] for p in stages)
    return ProgressEvent(
        type=kind,
        job=job_id,
        seq=_STATUS_RANK[s["status"]] * 10**15 + seq,
        status=s["status"],
        error=s["error"],
        files_seen=s["files_seen"],
        images=s["images"],
        distinct_images=s["distinct_images"],
        skipped=s["skipped"],
        errors=s["errors"],
        bytes_seen=s["bytes_seen"],
        image_types=s["image_types"],
        current_path=s["current_path"],
        discovery_finished=s["discovery_finished"],
        files_per_second=round(s["files_seen"] / elapsed, 1) if elapsed > 0 else 0.0,
        elapsed_seconds=round(elapsed, 1),
        stages=stages,
        newest_errors=[FileError(path=e["path"], error=e["error"]) for e in newest],
        hash_matches=s["hash_matches"],
    )
