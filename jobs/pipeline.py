"""The Celery canvas of a scan, built from plain values. No ORM, no broker: tasks are named, not imported."""

from collections.abc import Mapping, Sequence

from celery import chord, signature
from celery.canvas import Signature

SCAN_TASK = "jobs.tasks.scan_source"
STAGE_TASK = "jobs.tasks.run_stage"
BATCH_FINISH_TASK = "jobs.tasks.batch_finish"


def stage_queues(default_queues: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """Queue per stage: the extractor's own queue unless the deployment routes the stage elsewhere (a GPU queue)."""
    return {stage: overrides.get(stage, queue) for stage, queue in default_queues.items()}


def scan_signature(job_id: int) -> Signature:
    return signature(SCAN_TASK, args=(job_id,))


def batch_canvas(*, batch_id: int, stages: Sequence[str], queues: Mapping[str, str]) -> Signature:
    """A chord: one task per stage over the batch (each on its stage's queue), then the batch is recorded done."""
    header = [signature(STAGE_TASK, args=(batch_id, stage), queue=queues[stage], immutable=True) for stage in stages]
    return chord(header, signature(BATCH_FINISH_TASK, args=(batch_id,), immutable=True))
