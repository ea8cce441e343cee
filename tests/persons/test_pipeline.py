"""Persons kept up to date while scans run, on real workers with the real default face pack: the faces batches
queue an update of the case's persons on the jobs queue (one pending per case), the six people of the group photo
become six persons, and a later scan of the same case attaches its faces to them, a member's correction kept."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from PIL import Image, ImageEnhance

from cases.services import case_member_set
from jobs.models import Job
from jobs.samples import PACKAGED_PHOTOS, packaged_photo
from persons.models import ClusteringRun, FaceAssignment, FaceRejection, Person
from persons.services import face_reject
from tests.support.ml import write_picture
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _group(folder, names: dict[str, float]) -> None:
    """Copies of the group photo, each at a brightness of its own."""
    photo = Image.open(packaged_photo(*PACKAGED_PHOTOS["people/six-people.jpg"])).convert("RGB")
    folder.mkdir(parents=True)
    for name, brightness in names.items():
        write_picture(folder / f"{name}.png", ImageEnhance.Brightness(photo).enhance(brightness), fmt="PNG")


def _clustered(case_id: int, faces: int) -> bool:
    """Every face of the case found so far has been looked at by clustering (and no update is running)."""
    seen = FaceAssignment.objects.filter(case_id=case_id).count()
    return seen == faces and ClusteringRun.objects.filter(case_id=case_id, finished_at__isnull=True).count() == 0


def test_scans_keep_the_persons_of_their_case_up_to_date(
    transactional_db, ml_workers, real_models, evidence_dir, settings
):
    ml_workers(real_models)
    faces = settings.STAGE_PARAMS["faces"]
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": {**faces, "pack": "yunet_sface"}}
    _group(evidence_dir / "first", {"a": 1.0, "b": 1.2, "c": 0.8})
    call_command("scan", str(evidence_dir / "first"), "--name", "first", "--case", "2024-070", stdout=io.StringIO())
    first = Job.objects.get(name="first")
    assert first.status == Job.Status.COMPLETED
    wait_for(lambda: _clustered(first.case_id, 18), timeout=120, message="the case's faces to be clustered")
    persons = list(Person.objects.filter(case_id=first.case_id))
    assert sorted(p.face_count for p in persons) == [3] * 6
    assert ClusteringRun.objects.filter(case_id=first.case_id).exclude(kind="incremental").count() == 0

    examiner = get_user_model().objects.create_user(username="ann", email="ann@example.org")
    case_member_set(case=first.case, user=examiner, role="examiner")
    rejected = FaceAssignment.objects.filter(person=persons[0]).values_list("face_id", flat=True).first()
    face_reject(case=first.case, user=examiner, person_id=persons[0].pk, face_ids=[rejected])

    _group(evidence_dir / "second", {"d": 1.1, "e": 0.9})
    call_command("scan", str(evidence_dir / "second"), "--name", "second", "--case", "2024-070", stdout=io.StringIO())
    wait_for(lambda: _clustered(first.case_id, 30), timeout=120, message="the new faces to be clustered")
    after = {p.pk: p.face_count for p in Person.objects.filter(case_id=first.case_id)}
    assert set(after) == {p.pk for p in persons}  # no new person: the new faces joined those there were
    assert after[persons[0].pk] == 2 + 2
    assert sorted(after.values())[1:] == [5] * 5
    assert FaceAssignment.objects.get(face_id=rejected).person_id != persons[0].pk
    assert FaceRejection.objects.filter(face_id=rejected, person=persons[0]).exists()
