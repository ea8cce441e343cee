"""Corrections of a case's persons by its members: name a person, merge two, split faces out into a new person,
and "not this person" (reject faces from a person: never attached to it again).

Each takes the case and the acting user, whose role in the case decides: the lead, examiners and staff write; a
reviewer only reads (PersonsRefused). Faces a member places (a split, a merge) are assigned by hand, and clustering
never moves them. Every change is in the person's history (PersonChange) and in the audit log (`persons.*`, target
the case's reference); every refusal is audited once the transaction it would have written in is rolled back.
Writes to one case take the case's row lock, as clustering does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record, user_name
from cases.access import case_role_of
from cases.models import Case, CaseMember
from cases.services import case_locked
from database.bulk import bulk_insert
from persons.casestate import persons_changed
from persons.models import FaceAssignment, FaceRejection, Person, PersonChange, PersonSettings
from persons.updates import person_refresh, person_settings

NAME_MAX = 200
WRITING_ROLES = frozenset({"staff", CaseMember.Role.LEAD, CaseMember.Role.EXAMINER})
SETTING_ROLES = frozenset({"staff", CaseMember.Role.LEAD})


class PersonsRefused(PermissionError):
    """The user may not make this change; the text says why."""


class PersonUnknown(LookupError):
    """The case has no such person (or the faces named are not that person's)."""


@contextmanager
def _writing(action: str, case: Case, user: AbstractBaseUser, roles: frozenset = WRITING_ROLES) -> Iterator[None]:
    try:
        with transaction.atomic():
            case_locked(case_id=case.pk)
            role = case_role_of(case_id=case.pk, user=user)
            if role is None:
                raise PersonsRefused(f"{user_name(user)} is no member of case {case.reference}")
            if role not in roles:
                raise PersonsRefused(f"a {role} may not make this change to the case's persons")
            yield
            persons_changed(case_id=case.pk)
    except (PersonsRefused, PersonUnknown, ValueError) as exc:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=str(exc))
        raise


def _person(case: Case, person_id: int) -> Person:
    person = Person.objects.filter(case=case, pk=person_id).first() if 0 < person_id < 2**63 else None
    if person is None:
        raise PersonUnknown(f"case {case.reference} has no person {person_id}")
    return person


def _change(person: Person, action: str, user: AbstractBaseUser, *, detail: str = "", faces: int = 0) -> None:
    PersonChange.objects.create(
        person=person, action=action, detail=detail, faces=faces, user=user, user_label=user_name(user),
        at=timezone.now(),
    )  # fmt: skip


def person_name(*, case: Case, user: AbstractBaseUser, person_id: int, name: str) -> Person:
    """Name a person (an empty name takes the name away). A named person is never merged by clustering."""
    name = name.strip()
    with _writing("persons.name", case, user):
        if len(name) > NAME_MAX or "\x00" in name:
            raise ValueError(f"a name is {NAME_MAX} characters at most, with no NUL")
        person = _person(case, person_id)
        before = person.name
        person.name, person.named_by = name, user
        person.save(update_fields=["name", "named_by", "updated_at"])
        _change(person, PersonChange.Action.NAMED, user, detail=f"{before!r} -> {name!r}")
        audit_record("persons.name", target=case.reference, detail=f"person {person.pk}: {name!r}",
                     person=person.pk, before=before)  # fmt: skip
    return person


def person_merge(*, case: Case, user: AbstractBaseUser, into_id: int, other_id: int) -> Person:
    """Merge the person `other_id` into `into_id`: its faces, rejections and history go over, and it is gone. Its
    faces are then assigned by hand (clustering never takes them apart again); a face rejected from `into_id` that
    arrives with the merge is no longer rejected from it (the member said it is this person)."""
    with _writing("persons.merge", case, user):
        if into_id == other_id:
            raise ValueError("a person cannot be merged with itself")
        into, other = _person(case, into_id), _person(case, other_id)
        moved = FaceAssignment.objects.filter(case=case, person=other)
        FaceRejection.objects.filter(person=into, face_id__in=moved.values("face_id")).delete()
        count = moved.update(person=into, how=FaceAssignment.How.MANUAL, at=timezone.now(), by=user)
        taken = FaceRejection.objects.filter(person=into).values("face_id")
        FaceRejection.objects.filter(person=other).exclude(face_id__in=taken).update(person=into)
        PersonChange.objects.filter(person=other).update(person=into)
        label = other.name or f"person {other.pk}"
        if not into.name and other.name:
            into.name, into.named_by_id = other.name, other.named_by_id
            into.save(update_fields=["name", "named_by"])
        other.delete()
        person_refresh(into)
        _change(into, PersonChange.Action.MERGED, user, detail=f"{label} merged in", faces=count)
        audit_record("persons.merge", target=case.reference, detail=f"person {other_id} into {into_id}: {count} faces",
                     person=into_id, merged=other_id, faces=count)  # fmt: skip
    return into


def _faces_of(case: Case, person: Person, face_ids: Iterable[int]) -> list[int]:
    ids = sorted({i for i in face_ids if 0 < i < 2**63})
    found = FaceAssignment.objects.filter(case=case, person=person, face_id__in=ids).values_list("face_id", flat=True)
    if not ids or len(list(found)) != len(ids):
        raise PersonUnknown(f"not every face named is a face of person {person.pk}")
    return ids


def person_split(*, case: Case, user: AbstractBaseUser, person_id: int, face_ids: Iterable[int]) -> Person:
    """Take faces of a person out into a new person, assigned by hand (clustering never moves them back)."""
    with _writing("persons.split", case, user):
        person = _person(case, person_id)
        ids = _faces_of(case, person, face_ids)
        new = Person.objects.create(case=case, centroid=person.centroid)
        FaceAssignment.objects.filter(case=case, face_id__in=ids).update(
            person=new, how=FaceAssignment.How.MANUAL, at=timezone.now(), by=user
        )
        person_refresh(person)
        person_refresh(new)
        _change(new, PersonChange.Action.CREATED, user, detail=f"split out of person {person.pk}", faces=len(ids))
        _change(person, PersonChange.Action.SPLIT, user, detail=f"faces split out into person {new.pk}", faces=len(ids))
        audit_record("persons.split", target=case.reference, detail=f"person {person.pk}: {len(ids)} faces to {new.pk}",
                     person=person.pk, new_person=new.pk, faces=len(ids))  # fmt: skip
    return new


def face_reject(*, case: Case, user: AbstractBaseUser, person_id: int, face_ids: Iterable[int]) -> int:
    """ "Not this person": the faces leave the person and are never attached to it again (they are left in no
    person, seen by clustering, which may still group them into another). Returns how many left."""
    with _writing("persons.reject", case, user):
        person = _person(case, person_id)
        ids = _faces_of(case, person, face_ids)
        now = timezone.now()
        bulk_insert(
            FaceRejection,
            [{"case_id": case.pk, "face_id": i, "person_id": person.pk, "at": now, "by_id": user.pk} for i in ids],
        )
        FaceAssignment.objects.filter(case=case, face_id__in=ids).update(
            person=None, how=FaceAssignment.How.CLUSTER, at=now, by=user
        )
        person_refresh(person)
        _change(person, PersonChange.Action.REJECTED, user, detail="not this person", faces=len(ids))
        audit_record("persons.reject", target=case.reference, detail=f"person {person.pk}: {len(ids)} faces",
                     person=person.pk, faces=len(ids))  # fmt: skip
    return len(ids)


def person_settings_set(*, case: Case, user: AbstractBaseUser, min_faces: int, max_distance: float) -> PersonSettings:
    """Set how the case's faces are grouped from now on (the lead or staff). Persons made earlier stay; a full
    re-cluster (`manage.py persons recluster`) applies the settings to every face."""
    with _writing("persons.settings", case, user, SETTING_ROLES):
        if not 2 <= min_faces <= 1000 or not 0.0 < max_distance < 2.0:
            raise ValueError("minimum faces is 2 to 1000, maximum distance between 0 and 2")
        row = person_settings(case_id=case.pk)
        row.min_faces, row.max_distance = min_faces, max_distance
        row.save(update_fields=["min_faces", "max_distance"])
        audit_record("persons.settings", target=case.reference, detail=f"min {min_faces} faces, max {max_distance}",
                     min_faces=min_faces, max_distance=max_distance)  # fmt: skip
    return row
