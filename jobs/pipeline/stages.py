"""Running the analysis stages on scan batches, counting progress exactly once, and completing jobs."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from content.models import StageResult
from content.services import stage_results_save
from database.bulk import bulk_insert
from extractors.base import ImageRef, ItemResult, Outcome, StageUnavailable
from extractors.registry import get_registry
from jobs.config import extractor_context
from jobs.lifecycle import job_try_complete
from jobs.models import BatchStage, FileInstance, Job, ScanBatch, StageClaim, StageProgress
from jobs.pdqmatching import pdq_matches_for_batch
from jobs.pipeline.persons import persons_queue
from jobs.progress.publisher import progress_changed
from jobs.similar import STAGE as PDQ_STAGE

logger = logging.getLogger(__name__)

_COUNTED = {"done": "done", "failed": "failed", "skipped": "skipped"}
_reported_unavailable: set[tuple[str, str]] = set()


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
    rows = StageResult.objects.filter(image_id__any=ids, stage=stage, extractor_version=version)
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


def _image_refs(job: Job, image_ids: list[int]) -> list[ImageRef]:
    """One readable path per image: the first file instance of this job that holds it."""
    root = os.fsencode(job.source_path)
    refs: dict[int, ImageRef] = {}
    rows = (
        FileInstance.objects.filter(job=job, image_id__any=image_ids, status=FileInstance.Status.IMAGE)
        .order_by("image_id", "id")
        .values_list("image_id", "path", "path_bytes", "image__mime", "image__orientation")
    )
    for image_id, path, path_bytes, mime, orientation in rows:
        if image_id not in refs:
            raw = FileInstance.exact_path(path, path_bytes)
            refs[image_id] = ImageRef(image_id=image_id, path=root + b"/" + raw, mime=mime, orientation=orientation)
    return [refs[i] for i in image_ids if i in refs]


def batch_stage_finish(batch: ScanBatch, stage: str, counts: Counter, *, reused: int = 0, message: str = "") -> None:
    """Add this stage's counts for the batch to the job's progress, once: only the update that flips
    `finished` counts, so a redelivered task changes nothing. Once that is committed, the batch is finished if this
    was its last stage (`batch_finish`)."""
    with transaction.atomic():
        flipped = BatchStage.objects.filter(batch=batch, stage=stage, finished=False).update(
            finished=True,
            finished_at=timezone.now(),
            reused=reused,
            **{name: counts[name] for name in ("done", "failed", "skipped", "unavailable")},
        )
        if not flipped:
            return
        progress_add(batch.job_id, stage, counts=counts, reused=reused)
        if message:
            StageProgress.objects.filter(job_id=batch.job_id, stage=stage).update(message=message)
        progress_changed(batch.job_id)
        transaction.on_commit(lambda: batch_finish(batch_id=batch.pk))


class StageWaiting(Exception):
    """Some images of the batch are being analysed by another job's batch; run again later and reuse its results."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} images are being analysed by another job")
        self.count = count


def _claim(image_ids: list[int], stage: str, version: str, batch: ScanBatch) -> tuple[list[int], list[int]]:
    """Claim images for this batch. Returns (ours to analyse, held by another job's unfinished batch); the rest were
    analysed elsewhere meanwhile. A claim whose batch ended without a result, or whose job is no longer active, is
    taken over."""
    if not image_ids:
        return [], []
    bulk_insert(
        StageClaim,
        [{"image_id": i, "stage": stage, "extractor_version": version, "batch_id": batch.pk} for i in image_ids],
    )
    held = StageClaim.objects.filter(image_id__any=image_ids, stage=stage, extractor_version=version).exclude(
        batch=batch
    )
    elsewhere, settled = set(), set()
    for claim in held.select_related("batch__job"):
        holder = claim.batch
        busy = holder.job.status in Job.ACTIVE and holder.stages.filter(stage=stage, finished=False).exists()
        if busy:
            elsewhere.add(claim.image_id)
        elif StageResult.objects.filter(image_id=claim.image_id, stage=stage, extractor_version=version).exists():
            settled.add(claim.image_id)  # the holder finished it after we looked for results
        elif not StageClaim.objects.filter(pk=claim.pk, batch=holder).update(batch=batch):
            elsewhere.add(claim.image_id)  # someone else took it over first
    return [i for i in image_ids if i not in elsewhere and i not in settled], sorted(elsewhere)


def _reused(image_ids: list[int], stage: str, version: str, job_id: int) -> int:
    """How many of these images' results were produced for another job."""
    own = StageClaim.objects.filter(
        image_id__any=image_ids, stage=stage, extractor_version=version, batch__job_id=job_id
    ).count()
    return len(image_ids) - own


def stage_batch_run(*, batch_id: int, stage: str, wait_for_others: bool = True) -> dict[str, int]:
    """Run one stage over one batch. Per-image problems are results; this raises StageWaiting when another job is
    analysing some of the same content (the task runs again later), and infrastructure faults (retried)."""
    batch = ScanBatch.objects.select_related("job").filter(pk=batch_id).first()
    if batch is None:
        logger.info("batch %s is gone (job deleted), %s not run", batch_id, stage)
        return {}
    job = batch.job
    ids: list[int] = batch.work.get(stage, [])
    # A sign of life for jobs.pipeline.recovery: this stage's task was not lost. Retries while another job analyses the
    # same content pass here every few seconds.
    stage_rows = BatchStage.objects.filter(batch=batch, stage=stage)
    if not stage_rows.filter(finished=False).update(active_at=timezone.now()) and stage_rows.exists():
        # A second delivery, or a copy jobs.pipeline.recovery sent while the first was only queued: the work is done.
        logger.info("job %s: batch %s %s already finished", job.pk, batch.seq, stage)
        return {}
    if job.status not in (Job.Status.SCANNING, Job.Status.EXTRACTING):
        logger.info("job %s: batch %s %s not run, job is %s", job.pk, batch.seq, stage, job.status)
        batch_stage_finish(batch, stage, Counter())
        return {}
    try:
        extractor, provenance = get_registry().loaded(stage, extractor_context(stage, job.run_config))
    except StageUnavailable as exc:
        # Once per process and reason: every batch meets the same missing model.
        log = logger.debug if (stage, str(exc)) in _reported_unavailable else logger.warning
        _reported_unavailable.add((stage, str(exc)))
        log("job %s: stage %s unavailable: %s", job.pk, stage, exc)
        batch_stage_finish(batch, stage, Counter(unavailable=len(ids)), message=str(exc))
        return {"unavailable": len(ids)}
    version = provenance.version
    prior = prior_results(ids, stage=stage, version=version)
    ours, elsewhere = _claim([i for i in ids if i not in prior.statuses], stage, version, batch)
    if not wait_for_others:
        ours, elsewhere = ours + elsewhere, []
    refs = _image_refs(job, ours)
    results = extractor.run(refs) if refs else []
    missing = set(ours) - {item.image_id for item in results}
    results += [ItemResult(i, Outcome.FAILED, error=f"{stage}: no readable file for this image") for i in missing]
    stage_results_save(provenance=provenance, results=results)
    if elsewhere:
        raise StageWaiting(len(elsewhere))
    if len(prior.statuses) + len(ours) < len(ids):
        prior = prior_results([i for i in ids if i not in ours], stage=stage, version=version)
    counts = prior.counts + Counter(str(item.outcome) for item in results)
    reused = _reused(list(prior.statuses), stage, version, job.pk) if prior.statuses else 0
    if stage == PDQ_STAGE:
        pdq_matches_for_batch(job, ids)
    batch_stage_finish(batch, stage, counts, reused=reused)
    if stage == "faces" and counts["done"]:
        persons_queue(case_id=job.case_id, image_ids=ids)
    logger.debug("job %s: batch %s %s finished: %s", job.pk, batch.seq, stage, dict(counts))
    return dict(counts)


def batch_stage_fail(*, batch_id: int, stage: str, error: str) -> None:
    """The stage gave up on a whole batch (retries exhausted): its images count as failed, and the job goes on."""
    batch = ScanBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return
    ids = batch.work.get(stage, [])
    logger.error("job %s: stage %s failed on batch %s: %s", batch.job_id, stage, batch.seq, error)
    batch_stage_finish(batch, stage, Counter(failed=len(ids)), message=f"{stage} failed on a batch: {error}")


def batch_finish(*, batch_id: int) -> None:
    """Record the batch finished once every stage has run over it, and complete its job if that was the last.
    Idempotent. Called by the task that finishes a batch's last stage (`batch_stage_finish`), so a batch does not
    depend on its chord: a chord's count of finished tasks is off when a broker delivers a task twice or loses one,
    and its body then runs early or never. The chord body (and jobs.pipeline.recovery) call it too. The stages are
    checked before the job row is locked: of two tasks finishing a batch's last two stages at once, the one that
    looks last sees both finished."""
    if BatchStage.objects.filter(batch_id=batch_id, finished=False).exists():
        logger.debug("batch %s has stages still due, not finished yet", batch_id)
        return
    with transaction.atomic():
        job_id = ScanBatch.objects.filter(pk=batch_id).values_list("job_id", flat=True).first()
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        ScanBatch.objects.filter(pk=batch_id, finished=False).update(finished=True, finished_at=timezone.now())
        job_try_complete(job)
