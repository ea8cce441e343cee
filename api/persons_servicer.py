"""PersonService: an adapter from gRPC to the persons selectors and services. The case is checked as CaseService
checks it (NOT_FOUND for a case the caller is no member of); a person of another case is NOT_FOUND. Who may change
what (a reviewer nothing) and the audit records are the persons services'."""

from __future__ import annotations

import grpc

from api.auth import current_user
from api.cases_servicer import case_of_request
from api.errors import ApiError
from api.jobs_servicer import timestamp_message
from cases.models import Case
from imagescanner.v1 import persons_pb2 as pb
from imagescanner.v1 import persons_pb2_grpc
from persons.models import Person
from persons.selectors import person_faces_listing, person_get, person_history, persons_of_case
from persons.services import PersonsRefused, PersonUnknown, person_merge, person_name

# The most persons one ListPersons answers (largest first).
MAX_PERSONS = 10_000


def _person_message(person: Person) -> pb.Person:
    return pb.Person(
        id=person.pk, name=person.name, faces=person.face_count, representative_face_id=person.representative_id or 0
    )


def _person(case: Case, person_id: int) -> Person:
    person = person_get(case_id=case.pk, person_id=person_id)
    if person is None:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"case {case.reference} has no person {person_id}")
    return person


def _refused(exc: Exception) -> ApiError:
    if isinstance(exc, PersonsRefused):
        return ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), recorded=True)
    if isinstance(exc, PersonUnknown):
        return ApiError(grpc.StatusCode.NOT_FOUND, str(exc), recorded=True)
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc), recorded=True)


class PersonServicer(persons_pb2_grpc.PersonServiceServicer):
    def ListPersons(self, request: pb.ListPersonsRequest, context) -> pb.ListPersonsResponse:
        case, _ = case_of_request(request.case)
        persons = persons_of_case(case_id=case.pk).filter(face_count__gt=0)[:MAX_PERSONS]
        return pb.ListPersonsResponse(persons=[_person_message(p) for p in persons])

    def GetPerson(self, request: pb.GetPersonRequest, context) -> pb.GetPersonResponse:
        case, _ = case_of_request(request.case)
        person = _person(case, request.person_id)
        faces = [pb.PersonFace(face_id=f, sha256=s, how=h) for f, s, h in person_faces_listing(person=person)]
        history = [
            pb.PersonChange(
                action=c.action, detail=c.detail, faces=c.faces, user=c.user_label, time=timestamp_message(c.at)
            )
            for c in person_history(person=person)
        ]
        return pb.GetPersonResponse(person=_person_message(person), faces=faces, history=history)

    def NamePerson(self, request: pb.NamePersonRequest, context) -> pb.Person:
        case, _ = case_of_request(request.case)
        try:
            person = person_name(case=case, user=current_user(), person_id=request.person_id, name=request.name)
        except (PersonsRefused, PersonUnknown, ValueError) as exc:
            raise _refused(exc) from None
        return _person_message(person)

    def MergePersons(self, request: pb.MergePersonsRequest, context) -> pb.Person:
        case, _ = case_of_request(request.case)
        try:
            person = person_merge(case=case, user=current_user(), into_id=request.into_id, other_id=request.other_id)
        except (PersonsRefused, PersonUnknown, ValueError) as exc:
            raise _refused(exc) from None
        return _person_message(person)
