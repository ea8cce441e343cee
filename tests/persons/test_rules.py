"""The persons of a case, on synthetic embeddings: identities grouped apart (minimum faces and maximum distance the
case's own), incremental updates that agree with a full re-cluster and never see a face twice, and corrections
that stick: a rejected face never comes back to that person, named persons are never merged by clustering, faces
placed by hand are never moved, on later updates, a re-cluster and a new scan. Every correction is in the person's
history and the audit log; a reviewer and a non-member are refused (and audited)."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.services import case_create, case_member_set
from jobs.pipeline.persons import persons_run
from persons.models import ClusteringRun, FaceAssignment, FaceRejection, Person, PersonChange
from persons.services import (
    PersonsRefused,
    PersonUnknown,
    face_reject,
    person_merge,
    person_name,
    person_settings_set,
    person_split,
)
from persons.updates import person_settings, persons_update_claim
from tests.support.persons import faces_of, identities, store_faces


def user(name: str):
    return get_user_model().objects.create_user(username=name, email=f"{name}@example.org", password="x")


@pytest.fixture
def team():
    lead = user("lead")
    case = case_create(reference="2024-031", title="t", owner=lead)
    members = {"lead": lead}
    for name, role in (("ann", "examiner"), ("rev", "reviewer")):
        members[name] = user(name)
        case_member_set(case=case, user=members[name], role=role)
    return case, members


def partition(case) -> set[frozenset[int]]:
    """The case's persons as sets of face ids."""
    groups: dict[int, set[int]] = {}
    for face_id, person_id in FaceAssignment.objects.filter(case=case, person__isnull=False).values_list(
        "face_id", "person_id"
    ):
        groups.setdefault(person_id, set()).add(face_id)
    return {frozenset(g) for g in groups.values()}


def person_of(case, face_id):
    return FaceAssignment.objects.filter(case=case, face_id=face_id).values_list("person_id", flat=True).first()


def three_people(case, owner, source, *, per=6, first=1):
    ids = identities(3, seed=1)
    rows = np.concatenate([faces_of(ids[i], per, seed=10 + i + first) for i in range(3)])
    faces = store_faces(case=case, owner=owner, source=source, vectors=rows, first=first)
    return [faces[i * per : (i + 1) * per] for i in range(3)]


@pytest.mark.django_db
def test_identities_are_grouped_apart_and_strays_stay_in_no_person(team, tmp_path):
    case, members = team
    people = three_people(case, members["lead"], tmp_path)
    strays = store_faces(case=case, owner=members["lead"], source=tmp_path, vectors=identities(2, seed=99), first=50)
    run = persons_run(case_id=case.pk)
    assert partition(case) == {frozenset(p) for p in people}
    assert all(person_of(case, f) is None for f in strays)
    assert FaceAssignment.objects.filter(case=case, face_id__in=strays).count() == 2  # seen, in no person
    assert (run.faces, run.persons_created, run.min_faces, run.model_sha256) == (20, 3, 3, "a" * 64)
    # Nothing new: nothing is looked at again, strays included.
    assert persons_run(case_id=case.pk).faces == 0
    assert AuditEvent.objects.filter(action="persons.cluster").count() == 1


@pytest.mark.django_db
def test_minimum_faces_and_maximum_distance_are_the_cases_own(team, tmp_path):
    case, members = team
    person_settings_set(case=case, user=members["lead"], min_faces=7, max_distance=0.5)
    three_people(case, members["lead"], tmp_path)
    assert persons_run(case_id=case.pk).persons_created == 0  # six faces each: too few for seven
    person_settings_set(case=case, user=members["lead"], min_faces=3, max_distance=0.05)
    assert persons_run(case_id=case.pk, full=True).persons_created == 0  # faces about 0.25 apart: too far
    with pytest.raises(PersonsRefused):
        person_settings_set(case=case, user=members["ann"], min_faces=2, max_distance=0.5)
    assert person_settings(case_id=case.pk).min_faces == 3


@pytest.mark.django_db
def test_incremental_updates_agree_with_a_full_recluster(team, tmp_path):
    case, members = team
    ids = identities(4, seed=3)
    batches = [np.concatenate([faces_of(ids[i], 3, seed=100 * b + i) for i in range(4)]) for b in range(3)]
    for b, rows in enumerate(batches):
        store_faces(case=case, owner=members["lead"], source=tmp_path, vectors=rows, first=1 + 20 * b)
        persons_run(case_id=case.pk)
    incremental = partition(case)
    assert len(incremental) == 4
    assert all(len(g) == 9 for g in incremental)
    assert ClusteringRun.objects.filter(case=case).count() == 3
    persons_run(case_id=case.pk, full=True)
    assert partition(case) == incremental


@pytest.mark.django_db
def test_a_rejected_face_never_comes_back_to_that_person(team, tmp_path):
    case, members = team
    people = three_people(case, members["lead"], tmp_path)
    persons_run(case_id=case.pk)
    person = person_of(case, people[0][0])
    assert face_reject(case=case, user=members["ann"], person_id=person, face_ids=[people[0][0]]) == 1
    assert person_of(case, people[0][0]) is None
    assert Person.objects.get(pk=person).face_count == 5
    # A new scan with more faces of the same person, and a full re-cluster: the face stays out.
    more = store_faces(
        case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(identities(3, seed=1)[0], 3, seed=77),
        first=80,
    )  # fmt: skip
    persons_run(case_id=case.pk)
    assert {person_of(case, f) for f in more} == {person}
    persons_run(case_id=case.pk, full=True)
    assert person_of(case, people[0][0]) != person
    assert {person_of(case, f) for f in people[0][1:] + more} == {person}
    assert FaceRejection.objects.filter(case=case, face_id=people[0][0], person_id=person).exists()
    assert [c.action for c in PersonChange.objects.filter(person_id=person).order_by("id")][:3] == [
        "created", "rejected", "attached",
    ]  # fmt: skip


@pytest.mark.django_db
def test_named_persons_are_never_merged_by_clustering(team, tmp_path):
    """Look-alikes (a father and his son) clustering took for one person: split apart and named by a member, they
    stay apart, whatever faces between them come later and however often the case is re-clustered."""
    case, members = team
    base = identities(1, seed=5)[0]
    other = identities(1, seed=6)[0]
    relative = base * 0.8 + other * 0.6
    relative /= np.linalg.norm(relative)
    first = store_faces(case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(base, 5, seed=1), first=1)
    second = store_faces(
        case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(relative, 5, seed=2), first=10
    )
    persons_run(case_id=case.pk)
    a = person_of(case, first[0])
    assert person_of(case, second[0]) == a  # taken for one
    b = person_split(case=case, user=members["ann"], person_id=a, face_ids=second).pk
    person_name(case=case, user=members["lead"], person_id=a, name="Father")
    person_name(case=case, user=members["lead"], person_id=b, name="Son")
    between = (base + relative) / np.linalg.norm(base + relative)
    later = store_faces(
        case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(between, 6, seed=3), first=20
    )
    persons_run(case_id=case.pk)
    persons_run(case_id=case.pk, full=True)
    named = dict(Person.objects.filter(case=case).exclude(name="").values_list("name", "pk"))
    assert named == {"Father": a, "Son": b}
    assert {person_of(case, f) for f in first} == {a}
    assert {person_of(case, f) for f in second} == {b}
    assert {person_of(case, f) for f in later} <= {a, b}
    history = PersonChange.objects.filter(person_id=b).values_list("action", "user_label")
    assert list(history.order_by("id"))[:2] == [("created", "ann@example.org"), ("named", "lead@example.org")]


@pytest.mark.django_db
def test_faces_placed_by_hand_are_never_moved(team, tmp_path):
    case, members = team
    people = three_people(case, members["lead"], tmp_path)
    persons_run(case_id=case.pk)
    person = person_of(case, people[1][0])
    split = person_split(case=case, user=members["ann"], person_id=person, face_ids=people[1][:2])
    assert {person_of(case, f) for f in people[1][:2]} == {split.pk}
    store_faces(
        case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(identities(3, seed=1)[1], 4, seed=55),
        first=90,
    )  # fmt: skip
    persons_run(case_id=case.pk)
    persons_run(case_id=case.pk, full=True)
    assert {person_of(case, f) for f in people[1][:2]} == {split.pk}
    assert set(FaceAssignment.objects.filter(face_id__in=people[1][:2]).values_list("how", "by_id")) == {
        ("manual", members["ann"].pk)
    }
    # A merge by hand brings them back together, with both histories.
    merged = person_merge(case=case, user=members["lead"], into_id=person, other_id=split.pk)
    assert {person_of(case, f) for f in people[1]} == {merged.pk}
    actions = [c.action for c in PersonChange.objects.filter(person=merged).order_by("id")]
    assert {"created", "split", "merged"} <= set(actions)
    assert not Person.objects.filter(pk=split.pk).exists()


@pytest.mark.django_db
def test_a_reviewer_and_an_outsider_are_refused_and_audited(team, tmp_path):
    case, members = team
    people = three_people(case, members["lead"], tmp_path)
    persons_run(case_id=case.pk)
    person = person_of(case, people[0][0])
    with pytest.raises(PersonsRefused):
        person_name(case=case, user=members["rev"], person_id=person, name="x")
    with pytest.raises(PersonsRefused):
        face_reject(case=case, user=user("eve"), person_id=person, face_ids=[people[0][0]])
    with pytest.raises(PersonUnknown):
        face_reject(case=case, user=members["ann"], person_id=person, face_ids=[people[1][0]])  # not its face
    with pytest.raises(PersonUnknown):
        person_name(case=case, user=members["ann"], person_id=2**70, name="x")
    refused = AuditEvent.objects.filter(outcome="refused").values_list("action", flat=True)
    assert sorted(refused) == ["persons.name", "persons.name", "persons.reject", "persons.reject"]
    assert Person.objects.get(pk=person).name == ""
    assert person_of(case, people[0][0]) == person


@pytest.mark.django_db
def test_faces_of_another_model_are_not_grouped_and_one_update_is_pending_per_case(team, tmp_path):
    case, members = team
    three_people(case, members["lead"], tmp_path)
    persons_run(case_id=case.pk)
    other = store_faces(
        case=case, owner=members["lead"], source=tmp_path, vectors=faces_of(identities(1, seed=8)[0], 5),
        first=60, model_sha256="b" * 64,
    )  # fmt: skip
    assert persons_run(case_id=case.pk).faces == 0
    assert not FaceAssignment.objects.filter(face_id__in=other).exists()
    assert persons_update_claim(case_id=case.pk) is True
    assert persons_update_claim(case_id=case.pk) is False
    persons_run(case_id=case.pk)  # the pending update started: faces found from now on queue the next
    assert persons_update_claim(case_id=case.pk) is True


@pytest.mark.django_db
def test_two_updates_of_one_case_never_take_the_same_faces_twice(team, tmp_path):
    """An update queued while another ran listed the same new faces before the first committed: under the case's
    lock, its chunk finds them seen and leaves them."""
    from django.db import transaction

    from persons.updates import _chunk, _Totals

    case, members = team
    people = three_people(case, members["lead"], tmp_path)
    persons_run(case_id=case.pk)
    before = partition(case)
    late = _Totals()
    with transaction.atomic():
        _chunk(case, person_settings(case_id=case.pk), [f for p in people for f in p], late)
    assert late.faces == 0
    assert partition(case) == before
    assert sorted(Person.objects.filter(case=case).values_list("face_count", flat=True)) == [6, 6, 6]
