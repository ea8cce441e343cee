"""Keeping a case's persons up to date while its jobs find faces: a finished faces batch queues an update of the
case's persons (at most one pending per case: persons.updates.persons_update_claim), and the update clusters the
faces of the case that clustering has not seen yet."""

from __future__ import annotations

from django.db import transaction

from cases.models import Case
from jobs import canvas
from jobs.selectors import case_faces
from persons.models import ClusteringRun
from persons.updates import persons_recluster, persons_update, persons_update_claim


def persons_queue(*, case_id: int) -> None:
    """Queue an update of the case's persons, unless one is pending already."""
    if persons_update_claim(case_id=case_id):
        transaction.on_commit(lambda: canvas.persons_signature(case_id).apply_async())


def persons_run(*, case_id: int, full: bool = False) -> ClusteringRun | None:
    """Cluster the case's faces: those not seen yet, or (`full`) all of them again. None when the case is gone."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return None
    faces = case_faces(case_id=case_id)
    return persons_recluster(case=case, faces=faces) if full else persons_update(case=case, faces=faces)
