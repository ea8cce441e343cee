"""Discovery as a service: walk a job's source, record every entry in bulk, and dispatch new images to the stages
batch by batch while the walk goes on."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from content.models import Image
from database.bulk import Row, bulk_insert
from evidence.display import display_path
from evidence.probe import Probe, Status, probe_all
from evidence.walk import walk
from jobs import canvas
from jobs.hashmatching import hash_matches_discovery_end, hash_matches_for_job, hash_sets_active
from jobs.lifecycle import job_extract_begin, job_fail, job_scan_begin, job_try_complete
from jobs.models import BatchStage, FileInstance, Job, JobImage, ScanBatch
from jobs.pipeline import inprocess
from jobs.pipeline.stages import prior_results, progress_add
from jobs.progress.publisher import progress_changed
from jobs.selectors import source_label

logger = logging.getLogger(__name__)


def stored_path(raw: bytes) -> tuple[str, bytes | None]:
    """The path as shown and, where that is not simply its UTF-8 text, its exact bytes (`FileInstance.raw_path`)."""
    shown = display_path(raw)
    return shown, None if shown.encode() == raw else raw


def stored_time(ns: int | None) -> datetime | None:
    """A file time as a file instance records it (to the microsecond)."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC) if ns is not None else None


def _file_instance(job: Job, probe: Probe, image_ids: dict[str, int]) -> Row:
    entry = probe.entry
    path, path_bytes = stored_path(entry.relpath)
    st = entry.stat
    return {
        "job_id": job.pk,
        "path": path,
        "path_bytes": path_bytes,
        "path_digest": hashlib.sha256(entry.relpath).hexdigest(),
        "kind": str(entry.kind),
        "size": probe.size or (st.st_size if st else 0),
        "mtime": stored_time(st.st_mtime_ns) if st else None,
        "ctime": stored_time(st.st_ctime_ns) if st else None,
        "btime": stored_time(entry.birth_ns),
        "mode": st.st_mode if st else None,
        "inode": st.st_ino if st else None,
        "mime": probe.mime,
        "status": str(probe.status),
        "error": probe.error,
        "note": probe.note,
        "extension_mismatch": probe.extension_mismatch,
        "md5": probe.md5,
        "sha1": probe.sha1,
        "sha256": probe.sha256,
        "image_id": image_ids.get(probe.sha256) if probe.status is Status.IMAGE else None,
    }


def _image(probe: Probe) -> Row:
    info = probe.info
    width, height = info.display_size
    return {
        "sha256": probe.sha256,
        "md5": probe.md5,
        "sha1": probe.sha1,
        "size": probe.size,
        "mime": probe.mime,
        "format": info.format,
        "raw_width": info.width,
        "raw_height": info.height,
        "width": width,
        "height": height,
        "orientation": info.orientation,
        "mode": info.mode,
        "bit_depth": info.bit_depth,
        "dpi_x": info.dpi_x,
        "dpi_y": info.dpi_y,
        "frames": info.frames,
        "icc_profile": info.icc_profile,
    }


class LeaseLost(Exception):
    """The job's discovery was handed to another scan task while this one ran: under another lease
    (jobs.pipeline.recovery), or under the same one by a copy of the same slice (a message delivered again while its
    first delivery still ran, e.g. one held through a broker outage), which committed first."""


def _commit_batch(job: Job, probes: list[Probe], lease: str, after: bytes | None) -> ScanBatch | None:
    """Record one batch of probes, which the walk found after `after`, and queue its new images for the stages.
    Runs inside a transaction.

    Raises LeaseLost, before writing anything, if `lease` is no longer the job's, or if the job's discovery no
    longer ends at `after`: another slice committed since, and goes on from its own last batch, which this one must
    not add to (each file is counted once)."""
    # The job row's lock orders the batches of a job, and keeps the read-modify-write of its JSON counts exact.
    types, holder, resume = (
        Job.objects.select_for_update().values_list("image_types", "discovery_lease", "resume_after").get(pk=job.pk)
    )
    if holder != lease or (bytes(resume) if resume is not None else None) != after:
        raise LeaseLost(holder)
    types = Counter(types)
    image_probes = {p.sha256: p for p in probes if p.status is Status.IMAGE}
    if image_probes:
        bulk_insert(Image, [_image(p) for p in image_probes.values()])
    image_ids = dict(Image.objects.filter(sha256__any=list(image_probes)).values_list("sha256", "id"))
    instances = [_file_instance(job, p, image_ids) for p in probes]
    bulk_insert(FileInstance, instances)
    if hash_sets_active():
        digests = [row["path_digest"] for row in instances]
        written = FileInstance.objects.filter(job=job, path_digest__in=digests).values_list("id", flat=True)
        hash_matches_for_job(job, list(written))  # ids, not a subquery: the join then starts from these rows

    in_batch = set(image_ids.values())
    known = set(JobImage.objects.filter(job=job, image_id__any=in_batch).values_list("image_id", flat=True))
    new_ids = sorted(in_batch - known)
    bulk_insert(JobImage, [{"job_id": job.pk, "image_id": i} for i in new_ids])

    work: dict[str, list[int]] = {}
    config = job.run_config
    for stage in config.stages:
        prior = prior_results(new_ids, stage=stage, version=config.versions[stage])
        progress_add(job.pk, stage, total=len(new_ids), counts=prior.counts, reused=len(prior.statuses))
        todo = [i for i in new_ids if i not in prior.statuses]
        if todo:
            work[stage] = todo

    counts = Counter(p.status for p in probes)
    types.update(p.mime for p in probes if p.status is Status.IMAGE)
    last = probes[-1].entry.relpath
    batch = None
    if work:
        batch = ScanBatch.objects.create(job=job, seq=job.batches_dispatched, work=work)
        BatchStage.objects.bulk_create([BatchStage(batch=batch, stage=stage) for stage in work])
        job.batches_dispatched += 1
    Job.objects.filter(pk=job.pk).update(
        files_seen=F("files_seen") + len(probes),
        images=F("images") + counts[Status.IMAGE],
        distinct_images=F("distinct_images") + len(new_ids),
        skipped=F("skipped") + counts[Status.SKIPPED],
        errors=F("errors") + counts[Status.ERROR],
        bytes_seen=F("bytes_seen") + sum(p.size for p in probes),
        image_types=dict(types),
        current_path=display_path(last),
        resume_after=last,
        batches_dispatched=job.batches_dispatched,
        discovery_active_at=timezone.now(),
    )
    progress_changed(job.pk)
    return batch


def dispatch_batch(job_id: int, batch: ScanBatch) -> None:
    chord = canvas.batch_canvas(batch_id=batch.pk, stages=list(batch.work))
    if settings.CELERY_TASK_ALWAYS_EAGER:  # embedded: the stages run on this process's stage thread
        inprocess.submit(job_id, chord, on_crash=lambda job, error: job_fail(job_id=job, error=error))
    else:
        chord.apply_async()
    ScanBatch.objects.filter(pk=batch.pk).update(dispatched_at=timezone.now())
    logger.debug("job %s: batch %s dispatched to %s", job_id, batch.seq, ", ".join(batch.work))


def _dispatch_pending(job: Job) -> None:
    """Batches an earlier slice committed but did not hand to the broker (it died, or the broker was down)."""
    for batch in job.batches.filter(dispatched_at__isnull=True, finished=False):
        logger.warning("job %s: batch %s was never dispatched, dispatching it now", job.pk, batch.seq)
        dispatch_batch(job.pk, batch)


def _still_scanning(job_id: int, lease: str) -> bool:
    return Job.objects.filter(pk=job_id, status=Job.Status.SCANNING, discovery_lease=lease).exists()


def scan_job(*, job_id: int, slice_seconds: float, lease: str = "") -> None:
    """One slice of discovery for a job: from where the last committed batch ended, for about `slice_seconds`,
    then the next slice is queued under the same lease. The last slice closes discovery and may complete the job.
    Only the holder of the job's discovery lease runs a slice (a job started outside job_start has none: "")."""
    now = timezone.now()
    holds = Job.objects.filter(pk=job_id, status__in=(Job.Status.QUEUED, Job.Status.SCANNING), discovery_lease=lease)
    if not holds.update(discovery_active_at=now, discovery_redispatches=0):  # a scan that runs was not lost
        logger.info("job %s: not scanning (gone, cancelled or done), or under another lease: slice not run", job_id)
        return
    job_scan_begin(job_id=job_id)
    job = Job.objects.filter(pk=job_id, status=Job.Status.SCANNING).first()
    if job is None:
        logger.info("job %s: no longer scanning, slice not run", job_id)
        return
    root = os.fsencode(job.source_path)
    if not os.path.isdir(root):
        # Named as the examiner chose it (relative to SOURCES_ROOT): the API and the web show this error, and
        # neither names the server's own folders.
        job_fail(job_id=job_id, error=f"source folder is missing or not a folder: {source_label(job)}", lease=lease)
        return
    _dispatch_pending(job)
    resume = bytes(job.resume_after) if job.resume_after is not None else None
    if resume is not None:
        logger.info("job %s: discovery continues after %r", job_id, resume)

    config = job.run_config
    probes: list[Probe] = []
    size = 0
    opened = started = time.monotonic()

    def flush() -> bool:
        nonlocal probes, size, opened, resume
        if probes:
            try:
                with transaction.atomic():
                    batch = _commit_batch(job, probes, lease, after=resume)
                    if batch is not None:
                        transaction.on_commit(lambda: dispatch_batch(job_id, batch))
            except LeaseLost:
                return False
            resume = probes[-1].entry.relpath
        probes, size, opened = [], 0, time.monotonic()
        return _still_scanning(job_id, lease)

    walked = walk(root, resume_after=resume)
    with closing(
        probe_all(
            root,
            walked,
            threads=settings.SCAN_PROBE_THREADS,
            processes=settings.SCAN_PROBE_PROCESSES,
            max_pixels=config.max_image_pixels,
            full_verify=config.verify == "full",
        )
    ) as probes_in_order:
        for probe in probes_in_order:
            probes.append(probe)
            size += probe.size
            now = time.monotonic()
            if len(probes) >= config.batch_files or size >= config.batch_bytes or now - opened >= config.batch_seconds:
                if not flush():
                    logger.info("job %s: discovery stopped: the job is no longer scanning, or under this lease", job_id)
                    return
                if now - started >= slice_seconds:
                    canvas.scan_signature(job_id, lease).apply_async()
                    return
    if not flush():
        return
    hash_matches_discovery_end(job)
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)  # held while the job may complete (job_try_complete)
        if not job_extract_begin(job=job, lease=lease):
            return
        job_try_complete(job)
    logger.info("job %s: discovery finished, %s files", job_id, job.files_seen)
