"""`manage.py persons list|show|name|merge|recluster`, run as an investigator runs them (in a subprocess, against
the test database): the member `--as` names acts, with their role's rights, on the record as done at the command
line; one-line refusals; a person of another case is not found."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.services import case_create, case_member_set
from jobs.pipeline.persons import persons_run
from persons.models import FaceAssignment, Person
from tests.support.environment import REPO
from tests.support.persons import faces_of, identities, store_faces
from tests.support.processes import child_run

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return child_run(
        [sys.executable, "manage.py", "persons", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_list_show_name_merge_and_recluster(transactional_db, worker_env, tmp_path):
    users = get_user_model().objects
    alice, carol, dave = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "carol", "dave"))
    case = case_create(reference="2024-017", title="t", owner=alice)
    case_member_set(case=case, user=carol, role="reviewer")
    other = case_create(reference="2024-099", title="other", owner=dave)
    ids = identities(3, seed=4)
    rows = np.concatenate([faces_of(ids[0], 5, seed=1), faces_of(ids[1], 3, seed=2)])
    faces = store_faces(case=case, owner=alice, source=tmp_path, vectors=rows, first=1)
    store_faces(case=other, owner=dave, source=tmp_path, vectors=faces_of(ids[2], 3, seed=3), first=40)
    persons_run(case_id=case.pk)
    persons_run(case_id=other.pk)
    big, small = (FaceAssignment.objects.get(face_id=faces[i]).person_id for i in (0, 5))
    foreign = Person.objects.get(case=other).pk

    listed = manage(worker_env, "list", "--case", "2024-017")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"{big}\t5\t-", f"{small}\t3\t-"]
    named = manage(worker_env, "name", "--case", "2024-017", "--as", "alice", str(big), "Suspect A")
    assert named.returncode == 0, named.stderr
    assert Person.objects.get(pk=big).name == "Suspect A"
    assert AuditEvent.objects.get(action="persons.name", outcome="ok").via == "cli"

    refused = manage(worker_env, "name", "--case", "2024-017", "--as", "carol", str(big), "x")
    assert refused.stderr.strip() == "CommandError: a reviewer may not make this change to the case's persons"
    foreign_merge = manage(worker_env, "merge", "--case", "2024-017", "--as", "alice", str(big), str(foreign))
    assert foreign_merge.stderr.strip() == f"CommandError: case 2024-017 has no person {foreign}"
    assert manage(worker_env, "show", "--case", "2024-017", str(foreign)).returncode != 0
    assert AuditEvent.objects.filter(action__startswith="persons.", outcome="refused").count() == 2

    merged = manage(worker_env, "merge", "--case", "2024-017", "--as", "alice", str(big), str(small))
    assert merged.returncode == 0, merged.stderr
    shown = manage(worker_env, "show", "--case", "2024-017", str(big)).stdout.splitlines()
    assert shown[0] == f"person {big}: Suspect A, 8 faces"
    assert sum(line.startswith("face\t") for line in shown) == 8
    assert [line.split("\t")[2] for line in shown if line.startswith("history\t")] == [
        "created", "created", "named", "merged",
    ]  # fmt: skip
    again = manage(worker_env, "recluster", "--case", "2024-017")
    assert again.returncode == 0, again.stderr
    assert set(FaceAssignment.objects.filter(face_id__in=faces).values_list("person_id", flat=True)) == {big}
    assert manage(worker_env, "list", "--case", "2024-404").stderr.strip() == "CommandError: no such case: 2024-404"
    settings = ("settings", "--case", "2024-017")
    assert manage(worker_env, *settings).stdout.strip() == "min faces 3, max distance 0.5"
    assert manage(worker_env, *settings, "--as", "carol", "--min-faces", "4").returncode != 0
    assert manage(worker_env, *settings, "--as", "alice", "--min-faces", "1").returncode != 0
    changed = manage(worker_env, *settings, "--as", "alice", "--min-faces", "4")
    assert changed.stdout.strip() == "min faces 4, max distance 0.5"
    assert AuditEvent.objects.filter(action="persons.settings", outcome="refused").count() == 2
