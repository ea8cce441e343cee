"""The export's `persons`: the persons of the job's case seen in each image, by name or number, read in the same
queries whatever the number of images."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.services import case_create
from jobs.models import Job
from jobs.pipeline.persons import persons_run
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from persons.models import FaceAssignment
from persons.services import person_name
from tests.support.persons import faces_of, identities, store_faces


@pytest.mark.django_db
def test_the_export_names_the_persons_seen_in_each_image(tmp_path):
    alice = get_user_model().objects.create_user(username="alice", email="alice@lab.example")
    case = case_create(reference="2024-017", title="t", owner=alice)
    ids = identities(2, seed=9)

    def queries(first: int, count: int) -> tuple[int, list[dict]]:
        rows = np.concatenate([faces_of(ids[0], count, seed=first), faces_of(ids[1], count, seed=first + 1)])
        faces = store_faces(case=case, owner=alice, source=tmp_path, vectors=rows, first=first)
        persons_run(case_id=case.pk)
        job = Job.objects.filter(case=case).latest("pk")
        person = FaceAssignment.objects.get(face_id=faces[0]).person_id
        person_name(case=case, user=alice, person_id=person, name="=Suspect; A")
        with CaptureQueriesContext(connection) as captured:
            records = list(file_instances_for_export(job=job))
        return len(captured), records

    few, records = queries(1, 3)
    many, _ = queries(100, 30)
    assert few == many
    assert EXPORT_FIELDS[-1] == "persons"
    names = [r["persons"] for r in records]
    assert names[:3] == ["=Suspect; A"] * 3
    assert len(set(names[3:])) == 1
    assert names[3].startswith("person ")
