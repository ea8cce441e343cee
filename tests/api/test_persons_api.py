"""PersonService over gRPC: the persons of a case listed, shown, named and merged by its members; a reviewer reads
only; a case the caller is no member of, and a person of another case, are NOT_FOUND (their faces never appear);
every refusal on the record."""

from __future__ import annotations

import grpc
import numpy as np

from audit.models import AuditEvent
from cases.services import case_create, case_member_set
from imagescanner.v1 import cases_pb2 as cpb
from imagescanner.v1 import persons_pb2 as ppb
from jobs.pipeline.persons import persons_run
from persons.models import Person
from tests.support.grpc import rpc_error
from tests.support.persons import faces_of, identities, store_faces

LAB = cpb.CaseKey(reference="2024-017")


def test_persons_over_grpc_for_members_only(client_as, grpc_server):
    alice, carol, dave = (client_as(f"{n}@example.org") for n in ("alice", "carol", "dave"))
    source = grpc_server.sources_root
    lab = case_create(reference="2024-017", title="t", owner=alice.user)
    case_member_set(case=lab, user=carol.user, role="reviewer")
    other = case_create(reference="2024-099", title="other", owner=dave.user)
    ids = identities(3, seed=2)
    rows = np.concatenate([faces_of(ids[0], 4, seed=1), faces_of(ids[1], 3, seed=2)])
    faces = store_faces(case=lab, owner=alice.user, source=source, vectors=rows, first=1)
    foreign_faces = store_faces(case=other, owner=dave.user, source=source, vectors=faces_of(ids[2], 3), first=30)
    persons_run(case_id=lab.pk)
    persons_run(case_id=other.pk)
    foreign = Person.objects.get(case=other).pk

    listed = carol.persons.ListPersons(ppb.ListPersonsRequest(case=LAB)).persons
    assert [p.faces for p in listed] == [4, 3]
    big, small = listed[0].id, listed[1].id
    shown = carol.persons.GetPerson(ppb.GetPersonRequest(case=LAB, person_id=big))
    assert [f.face_id for f in shown.faces] == faces[:4]
    assert [c.action for c in shown.history] == ["created"]
    assert shown.person.representative_face_id in faces[:4]

    named = alice.persons.NamePerson(ppb.NamePersonRequest(case=LAB, person_id=big, name="Suspect A"))
    assert named.name == "Suspect A"
    merged = alice.persons.MergePersons(ppb.MergePersonsRequest(case=LAB, into_id=big, other_id=small))
    assert (merged.id, merged.faces) == (big, 7)
    history = alice.persons.GetPerson(ppb.GetPersonRequest(case=LAB, person_id=big)).history
    assert [(c.action, c.user) for c in history][-2:] == [
        ("named", "alice@example.org"),
        ("merged", "alice@example.org"),
    ]

    # A reviewer reads only; the faces of a case the caller is not in never appear.
    refused = rpc_error(carol.persons.NamePerson, ppb.NamePersonRequest(case=LAB, person_id=big, name="x"))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    for call, request in (
        (dave.persons.ListPersons, ppb.ListPersonsRequest(case=LAB)),
        (dave.persons.GetPerson, ppb.GetPersonRequest(case=LAB, person_id=big)),
        (alice.persons.GetPerson, ppb.GetPersonRequest(case=LAB, person_id=foreign)),
        (alice.persons.MergePersons, ppb.MergePersonsRequest(case=LAB, into_id=big, other_id=foreign)),
        (alice.persons.GetPerson, ppb.GetPersonRequest(case=LAB, person_id=-1)),
    ):
        assert rpc_error(call, request).code() == grpc.StatusCode.NOT_FOUND
    too_long = ppb.NamePersonRequest(case=LAB, person_id=big, name="x" * 201)
    assert rpc_error(alice.persons.NamePerson, too_long).code() == grpc.StatusCode.INVALID_ARGUMENT
    seen = {
        f.face_id for p in listed for f in alice.persons.GetPerson(ppb.GetPersonRequest(case=LAB, person_id=big)).faces
    }
    assert not seen & set(foreign_faces)
    assert AuditEvent.objects.filter(action="persons.name", outcome="refused").count() == 2
    assert AuditEvent.objects.filter(action="persons.merge", outcome="refused").count() == 1
