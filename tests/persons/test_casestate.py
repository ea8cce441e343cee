"""The state an incremental update keeps between updates (persons.casestate), with real commits: read once, then
kept level with the database by the updates themselves; read again after any other change of the case's persons
(a correction, a re-cluster, a job deleted); and never different from what the database holds."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import OperationalError, connection, connections, transaction

from cases.services import case_locked
from jobs.models import Job
from jobs.pipeline.persons import persons_run
from jobs.services import job_delete
from persons import casestate
from persons.models import Person
from persons.services import face_reject
from tests.persons.test_rules import partition, person_of, team  # noqa: F401 (a fixture)
from tests.support.persons import faces_of, identities, store_faces

pytestmark = pytest.mark.django_db(transaction=True)
READ = casestate._read  # the checks read with it, unseen by the spy on the updates' reads


@pytest.fixture(autouse=True)
def no_state_held():
    casestate.case_states_forget()
    yield
    casestate.case_states_forget()


def held_is_the_databases(case) -> None:
    held = casestate._states[case.pk]
    read = READ(case.pk, casestate.persons_version(case_id=case.pk), held.means.shape[1])
    assert held.version == read.version
    order, read_order = np.argsort(held.person_ids), np.argsort(read.person_ids)
    assert held.person_ids[order].tolist() == read.person_ids[read_order].tolist()
    assert held.counts[order].tolist() == read.counts[read_order].tolist()
    assert held.representatives[order].tolist() == read.representatives[read_order].tolist()
    assert np.allclose(held.means[order], read.means[read_order], atol=1e-6)
    assert held.noise_ids.tolist() == read.noise_ids.tolist()
    assert np.allclose(held.noise, read.noise, atol=1e-6)
    assert dict(Person.objects.filter(case=case).values_list("pk", "face_count")) == dict(
        zip(read.person_ids.tolist(), read.counts.tolist(), strict=True)
    )


def test_updates_read_the_case_once_and_again_only_after_another_change(team, tmp_path, mocker):  # noqa: F811
    case, members = team
    reads = mocker.spy(casestate, "_read")
    ids = identities(5, seed=4)
    owner = members["lead"]
    stray_seed = iter(range(500, 600))
    for b in range(3):
        rows = np.concatenate(
            [faces_of(ids[i], 2, seed=10 * b + i) for i in range(4)] + [identities(2, seed=next(stray_seed))]
        )
        store_faces(case=case, owner=owner, source=tmp_path, vectors=rows, first=1 + 20 * b)
        persons_run(case_id=case.pk)
        held_is_the_databases(case)
    assert reads.call_count == 1  # the first update read the case; the others kept what they changed
    assert len(partition(case)) == 4
    # Two faces of a fifth person, in two scans: noise at first, a person once the second pair joins them.
    pair = faces_of(ids[4], 4, seed=77)
    store_faces(case=case, owner=owner, source=tmp_path, vectors=pair[:2], first=200)
    persons_run(case_id=case.pk)
    store_faces(case=case, owner=owner, source=tmp_path, vectors=pair[2:], first=210)
    persons_run(case_id=case.pk)
    held_is_the_databases(case)
    assert len(partition(case)) == 5
    assert reads.call_count == 1
    incremental = partition(case)

    # A correction changes the persons: the next update reads the case again.
    first = min(min(group) for group in incremental)
    person = person_of(case, first)
    face_reject(case=case, user=members["ann"], person_id=person, face_ids=[first])
    more = store_faces(case=case, owner=owner, source=tmp_path, vectors=faces_of(ids[0], 1, seed=9), first=300)
    persons_run(case_id=case.pk)
    assert reads.call_count == 2
    held_is_the_databases(case)
    assert person_of(case, more[0]) is not None

    # A job deleted takes faces away: read again.
    job_delete(job=Job.objects.filter(case=case).latest("pk"))
    store_faces(case=case, owner=owner, source=tmp_path, vectors=faces_of(ids[1], 1, seed=8), first=400)
    persons_run(case_id=case.pk)
    assert reads.call_count == 3
    held_is_the_databases(case)

    # A full re-cluster reads the case afresh; the update after it keeps what the re-cluster left.
    persons_run(case_id=case.pk, full=True)
    store_faces(case=case, owner=owner, source=tmp_path, vectors=faces_of(ids[2], 1, seed=7), first=500)
    persons_run(case_id=case.pk)
    assert reads.call_count == 4
    held_is_the_databases(case)
    assert len(partition(case)) == 5


def test_a_change_made_between_the_read_and_the_commit_is_never_absorbed(team, tmp_path):  # noqa: F811
    """An update bumps the version it read its state at; where another change bumped it meanwhile, the version is
    bumped again and no state is held: the next update reads the case, never the stale state as current."""
    case, members = team
    store_faces(case=case, owner=members["lead"], source=tmp_path, vectors=identities(3, seed=3), first=1)
    persons_run(case_id=case.pk)
    version = casestate.persons_version(case_id=case.pk)
    state = casestate.case_state(case_id=case.pk, dim=128)
    assert state.version == version

    with transaction.atomic():  # a bump with nothing between: the state is held at the new version
        casestate.case_state_commit(case_id=case.pk, state=state)
    assert casestate.persons_version(case_id=case.pk) == version + 1
    assert casestate._states[case.pk].version == version + 1

    state = casestate.case_state(case_id=case.pk, dim=128)
    casestate.persons_changed(case_id=case.pk)  # another writer (a job deleted) between the read and the commit
    with transaction.atomic():
        casestate.case_state_commit(case_id=case.pk, state=state)
    assert casestate.persons_version(case_id=case.pk) == version + 3
    assert case.pk not in casestate._states


def test_a_job_deleted_waits_for_the_case_lock(team, tmp_path):  # noqa: F811
    """Deleting a job takes the case's lock, like every other writer of its faces and persons: while an update
    holds it, the deletion waits (here: gives up after its lock timeout)."""
    case, members = team
    store_faces(case=case, owner=members["lead"], source=tmp_path, vectors=identities(2, seed=5), first=1)
    job = Job.objects.get(case=case)
    held, done = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                case_locked(case_id=case.pk)
                held.set()
                done.wait(timeout=60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        held.wait(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        with pytest.raises(OperationalError):
            job_delete(job=job)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        done.set()
        holder.join()
    assert Job.objects.filter(pk=job.pk).exists()
