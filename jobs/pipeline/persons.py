"""Keeping a case's persons up to date while its jobs find faces: a finished faces batch records its images as
pending for the case and queues an update of the case's persons (at most one pending per case:
persons.updates.persons_update_claim); the update clusters the faces of the pending images that clustering has not
seen yet, so that its cost follows the batch, not the size of the case. A full re-cluster looks at every face."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from cases.models import Case
from jobs import canvas
from jobs.selectors import case_faces
from persons.models import ClusteringRun
from persons.updates import (
    persons_pending,
    persons_pending_add,
    persons_recluster,
    persons_update,
    persons_update_claim,
)


def persons_queue(*, case_id: int, image_ids: Iterable[int]) -> None:
    """Record the images as pending for the case, and queue an update of its persons unless one is pending."""
    persons_pending_add(case_id=case_id, image_ids=image_ids)
    if persons_update_claim(case_id=case_id):
        transaction.on_commit(lambda: canvas.persons_signature(case_id).apply_async())


def persons_run(*, case_id: int, full: bool = False) -> ClusteringRun | None:
    """Cluster the case's faces: those not seen yet, or (`full`) all of them again. None when the case is gone."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return None
    faces = case_faces(case_id=case_id)
    with persons_pending(case_id=case_id) as image_ids:
        if full:  # every face: what was pending is looked at too
            return persons_recluster(case=case, faces=faces)
        return persons_update(case=case, faces=faces.filter(image_id__in=image_ids))
