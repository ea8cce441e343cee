"""The Celery canvas of a scan, built from plain values. No ORM, no broker: tasks are named, not imported, and the
router in settings (jobs.pipeline.routing) sends each to its queue. The task names stay `jobs.tasks.*` wherever their
module lives: messages already queued and Flower's rate limits name them."""

from collections.abc import Sequence

from celery import chord, signature
from celery.canvas import Signature

SCAN_TASK = "jobs.tasks.scan_source"
STAGE_TASK = "jobs.tasks.run_stage"
BATCH_FINISH_TASK = "jobs.tasks.batch_finish"
HASH_SETS_TASK = "jobs.tasks.hash_sets_rematch"
PERSONS_TASK = "jobs.tasks.persons_update"
FACE_INDEX_TASK = "jobs.tasks.face_index_maintain"


def scan_signature(job_id: int, lease: str) -> Signature:
    """One slice of the job's discovery, run only while `lease` is the job's discovery lease."""
    return signature(SCAN_TASK, args=(job_id, lease), immutable=True)


def batch_canvas(*, batch_id: int, stages: Sequence[str]) -> Signature:
    """A chord: one task per stage over the batch, then the batch is recorded done."""
    header = [signature(STAGE_TASK, args=(batch_id, stage), immutable=True) for stage in stages]
    return chord(header, signature(BATCH_FINISH_TASK, args=(batch_id,), immutable=True))


def hash_sets_signature(hash_set_id: int) -> Signature:
    """Match every job again against a set that changed (jobs.hashmatching.hash_matches_refresh)."""
    return signature(HASH_SETS_TASK, args=(hash_set_id,), immutable=True)


def persons_signature(case_id: int) -> Signature:
    """An update of a case's persons from the faces found since the last (jobs queue)."""
    return signature(PERSONS_TASK, args=(case_id,), immutable=True)


def face_index_signature(recogniser_sha256: str) -> Signature:
    """Bring a recogniser's face index level with the database (jobs.faceindex.face_index_maintain)."""
    return signature(FACE_INDEX_TASK, args=(recogniser_sha256,), immutable=True)
