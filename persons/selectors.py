"""Reads of a case's persons: the strip (largest first), one person with its faces and history, and the images a
person is seen in (the gallery's filter). The caller has checked the user may see the case."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from persons.models import FaceAssignment, Person, PersonChange, PersonSettings

STRIP_MAX = 24


def person_strip(*, case_id: int, limit: int = STRIP_MAX) -> list[Person]:
    """The case's persons with faces, largest first, each with its representative face."""
    return list(Person.objects.filter(case_id=case_id, face_count__gt=0).order_by("-face_count", "pk")[:limit])


def person_settings_shown(*, case_id: int) -> tuple[int, float]:
    """The case's clustering settings (minimum faces, maximum distance): its own, or the defaults it would get."""
    row = PersonSettings.objects.filter(case_id=case_id).values_list("min_faces", "max_distance").first()
    return row or (settings.PERSONS_MIN_FACES, settings.PERSONS_MAX_DISTANCE)


def persons_of_case(*, case_id: int) -> QuerySet[Person]:
    return Person.objects.filter(case_id=case_id).order_by("-face_count", "pk")


def person_get(*, case_id: int, person_id: int) -> Person | None:
    """The case's person, or None (an id no person has, of another case, or beyond the database's integers)."""
    if not 0 < person_id < 2**63:
        return None
    return Person.objects.filter(case_id=case_id, pk=person_id).first()


def person_face_ids(*, person: Person, limit: int | None = None) -> list[int]:
    rows = FaceAssignment.objects.filter(case_id=person.case_id, person=person).order_by("face_id")
    rows = rows.values_list("face_id", flat=True)
    return list(rows[:limit] if limit else rows)


def person_assignments(*, person: Person, limit: int = 200) -> list[FaceAssignment]:
    """The person's faces (how each was assigned), oldest face first."""
    rows = FaceAssignment.objects.filter(case_id=person.case_id, person=person).select_related("face")
    return list(rows.order_by("face_id")[:limit])


def person_history(*, person: Person) -> list[PersonChange]:
    return list(PersonChange.objects.filter(person=person).order_by("id"))


def person_image_ids(*, case_id: int, person_id: int) -> QuerySet:
    """The ids of the images a person of the case is seen in (a subquery)."""
    return FaceAssignment.objects.filter(case_id=case_id, person_id=person_id).values("face__image_id")


def persons_by_image(*, case_id: int, image_ids: list[int]) -> dict[int, list[str]]:
    """Image id -> the persons seen in it ("name" or "person <id>"), for the export."""
    out: dict[int, list[str]] = {}
    rows = (
        FaceAssignment.objects.filter(case_id=case_id, person__isnull=False, face__image_id__in=image_ids)
        .order_by("face__image_id", "person_id")
        .values_list("face__image_id", "person_id", "person__name")
        .distinct()
    )
    for image_id, person_id, name in rows:
        out.setdefault(image_id, []).append(name or f"person {person_id}")
    return out


def person_faces_listing(*, person: Person, limit: int = 10_000) -> list[tuple[int, str, str]]:
    """(face id, SHA-256 of its image, how it was assigned) of the person's faces, oldest face first."""
    rows = FaceAssignment.objects.filter(case_id=person.case_id, person=person).order_by("face_id")
    return list(rows.values_list("face_id", "face__image__sha256", "how")[:limit])
