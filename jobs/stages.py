"""Running the analysis stages on scan batches, counting progress exactly once, and completing jobs."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from extractors.base import ExtractorContext, ImageRef, ItemResult, Outcome, StageUnavailable
from extractors.registry import get_registry
from gallery.models import StageResult
from gallery.services import stage_results_save
from jobs.models import BatchStage, FileInstance, Job, ScanBatch, StageProgress

logger = logging.getLogger(__name__)

_COUNTED = {"done": "done", "failed": "failed", "skipped": "skipped"}


@dataclass(frozen=True)
class Prior:
    """Results that already exist for some images: image id -> status."""

    statuses: dict[int, str] = field(default_factory=dict)

    @property
    def counts(self) -> Counter:
        return Counter(self.statuses.values())


def prior_results(image_ids: Iterable[int], *, stage: str, version: str) -> Prior:
    ids = list(image_ids)
    if not ids:
        return Prior()
    rows = StageResult.objects.filter(image_id__in=ids, stage=stage, extractor_version=version)
    return Prior(dict(rows.values_list("image_id", "status")))


def progress_add(job_id: int, stage: str, *, total: int = 0, counts: Counter | None = None, reused: int = 0) -> None:
    counts = counts or Counter()
    changes = {name: F(name) + counts[status] for status, name in _COUNTED.items() if counts[status]}
    if counts["unavailable"]:
        changes["unavailable"] = F("unavailable") + counts["unavailable"]
    if total:
        changes["total"] = F("total") + total
    if reused:
        changes["reused"] = F("reused") + reused
    if changes:
        StageProgress.objects.filter(job_id=job_id, stage=stage).update(**changes)


def extractor_context(stage: str) -> ExtractorContext:
    return ExtractorContext(
        models_root=settings.MODELS_ROOT,
        device=settings.STAGE_DEVICES.get(stage, settings.STAGE_DEVICES.get("default", "cpu")),
        max_image_pixels=settings.SCAN_MAX_IMAGE_PIXELS,
        params=settings.STAGE_PARAMS.get(stage, {}),
    )


def _image_refs(job: Job, image_ids: list[int]) -> list[ImageRef]:
    """One readable path per image: the first file instance of this job that holds it."""
    root = os.fsencode(job.source_path)
    refs: dict[int, ImageRef] = {}
    rows = (
        FileInstance.objects.filter(job=job, image_id__in=image_ids, status=FileInstance.Status.IMAGE)
        .order_by("image_id", "id")
        .select_related("image")
    )
    for row in rows:
        if row.image_id not in refs:
            refs[row.image_id] = ImageRef(
                image_id=row.image_id,
                path=root + b"/" + row.raw_path,
                mime=row.image.mime,
                orientation=row.image.orientation,
            )
    return [refs[i] for i in image_ids if i in refs]


def batch_stage_finish(batch: ScanBatch, stage: str, counts: Counter, *, reused: int = 0, message: str = "") -> None:
    """Add this stage's counts for the batch to the job's progress, once: only the update that flips
    `finished` counts, so a redelivered task changes nothing."""
    with transaction.atomic():
        flipped = BatchStage.objects.filter(batch=batch, stage=stage, finished=False).update(finished=True)
        if not flipped:
            return
        progress_add(batch.job_id, stage, counts=counts, reused=reused)
        if message:
            StageProgress.objects.filter(job_id=batch.job_id, stage=stage).update(message=message)


def stage_batch_run(*, batch_id: int, stage: str) -> dict[str, int]:
    """Run one stage over one batch. Per-image problems are results; this raises only for infrastructure faults
    (the task retries those)."""
    batch = ScanBatch.objects.select_related("job").get(pk=batch_id)
    job = batch.job
    ids: list[int] = batch.work.get(stage, [])
    if job.status not in (Job.Status.SCANNING, Job.Status.EXTRACTING):
        logger.info("job %s: batch %s %s not run, job is %s", job.pk, batch.seq, stage, job.status)
        batch_stage_finish(batch, stage, Counter())
        return {}
    try:
        extractor, provenance = get_registry().loaded(stage, extractor_context)
    except StageUnavailable as exc:
        logger.warning("job %s: stage %s unavailable: %s", job.pk, stage, exc)
        batch_stage_finish(batch, stage, Counter(unavailable=len(ids)), message=str(exc))
        return {"unavailable": len(ids)}
    # Another job may have analysed some of these images since the batch was queued.
    prior = prior_results(ids, stage=stage, version=provenance.version)
    todo = _image_refs(job, [i for i in ids if i not in prior.statuses])
    results = extractor.run(todo) if todo else []
    missing = {ref.image_id for ref in todo} - {item.image_id for item in results}
    results += [ItemResult(i, Outcome.FAILED, error=f"{stage}: extractor returned no result") for i in missing]
    stage_results_save(provenance=provenance, results=results)
    counts = prior.counts + Counter(str(item.outcome) for item in results)
    batch_stage_finish(batch, stage, counts, reused=len(prior.statuses))
    return dict(counts)


def batch_stage_fail(*, batch_id: int, stage: str, error: str) -> None:
    """The stage gave up on a whole batch (retries exhausted): its images count as failed, and the job goes on."""
    batch = ScanBatch.objects.get(pk=batch_id)
    ids = batch.work.get(stage, [])
    logger.error("job %s: stage %s failed on batch %s: %s", batch.job_id, stage, batch.seq, error)
    batch_stage_finish(batch, stage, Counter(failed=len(ids)), message=f"{stage} failed on a batch: {error}")


def job_try_complete(job: Job) -> bool:
    """Complete the job if discovery is over and every batch is finished. The caller holds the job row lock, so the
    scan task and the last batch cannot both miss the moment; the conditional update makes it happen once."""
    if not job.discovery_finished or job.batches.filter(finished=False).exists():
        return False
    completed = Job.objects.filter(pk=job.pk, status=Job.Status.EXTRACTING).update(
        status=Job.Status.COMPLETED, finished_at=timezone.now()
    )
    if completed:
        logger.info("job %s: completed", job.pk)
    return bool(completed)


def batch_finish(*, batch_id: int) -> None:
    """Chord body: every stage has run over the batch."""
    with transaction.atomic():
        job_id = ScanBatch.objects.values_list("job_id", flat=True).get(pk=batch_id)
        job = Job.objects.select_for_update().get(pk=job_id)
        ScanBatch.objects.filter(pk=batch_id, finished=False).update(finished=True, finished_at=timezone.now())
        job_try_complete(job)
