"""A case's person pages: one person's faces and history, with the members' corrections (name, merge into another,
split faces out, "not this person"), the case's clustering settings (its lead), and the face crops the person strips
show. Adapters only: the reads are persons.selectors, the writes persons.services (audited, refusals included). A
user who is not a member of the case gets 404 for every page (its existence is not disclosed); a reviewer reads only
(403 on a write), and so does an examiner for the clustering settings."""

from __future__ import annotations

import math

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from cases.access import CaseAction, case_role_of
from cases.models import Case
from casework.views import case_or_404
from jobs.selectors import case_faces
from jobs.veils import veils_for
from persons.models import Person
from persons.selectors import person_assignments, person_get, person_history, persons_of_case
from persons.services import (
    WRITING_ROLES,
    PersonsRefused,
    PersonUnknown,
    face_reject,
    person_merge,
    person_name,
    person_settings_set,
    person_split,
)

# Faces shown on a person's page, and persons offered to merge with.
FACES_SHOWN = 500
MERGE_CHOICES = 200
ACTIONS = {"name": "persons.name", "merge": "persons.merge", "split": "persons.split", "reject": "persons.reject"}


def _person_or_404(request: HttpRequest, case: Case, person_id: int, action: str = "persons.view") -> Person:
    person = person_get(case_id=case.pk, person_id=person_id)
    if person is None:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference,
                     detail=f"no person {person_id} in the case")  # fmt: skip
        raise Http404("The case has no such person.")
    return person


@require_GET
def person_page(request: HttpRequest, case_id: int, person_id: int) -> HttpResponse:
    case = case_or_404(request, case_id, audited="persons.view")
    person = _person_or_404(request, case, person_id)
    may_write = case_role_of(case_id=case.pk, user=request.user) in WRITING_ROLES
    others = persons_of_case(case_id=case.pk).exclude(pk=person.pk).filter(face_count__gt=0)[:MERGE_CHOICES]
    assignments = person_assignments(person=person, limit=FACES_SHOWN)
    return render(
        request,
        "casework/person.html",
        {
            "case": case,
            "person": person,
            "assignments": assignments,
            "veils": veils_for(user=request.user, cases=[case.pk], faces=[a.face_id for a in assignments]),
            "history": person_history(person=person),
            "may_write": may_write,
            "others": others if may_write else [],
        },
    )


def _ids(values: list[str]) -> list[int]:
    if not values or not all(v.isascii() and v.isdigit() for v in values):
        raise BadRequest("choose faces of the person")
    return [int(v) for v in values]


@require_POST
def person_change(request: HttpRequest, case_id: int, person_id: int) -> HttpResponse:
    action = request.POST.get("action", "")
    audited = ACTIONS.get(action, "persons.change")
    case = case_or_404(request, case_id, audited=audited)
    person = _person_or_404(request, case, person_id, audited)
    try:
        if action == "name":
            person_name(case=case, user=request.user, person_id=person.pk, name=request.POST.get("name", ""))
            messages.success(request, "Person named.")
        elif action == "merge":
            other = request.POST.get("other", "")
            if not (other.isascii() and other.isdigit()):
                raise BadRequest("choose a person to merge")
            person_merge(case=case, user=request.user, into_id=person.pk, other_id=int(other))
            messages.success(request, "Persons merged.")
        elif action == "split":
            new = person_split(case=case, user=request.user, person_id=person.pk,
                               face_ids=_ids(request.POST.getlist("faces")))  # fmt: skip
            messages.success(request, f"Faces split out into person {new.pk}.")
            return redirect("casework:person", case_id=case.pk, person_id=new.pk)
        elif action == "reject":
            count = face_reject(case=case, user=request.user, person_id=person.pk,
                                face_ids=_ids(request.POST.getlist("faces")))  # fmt: skip
            messages.success(request, f"{count} faces are not this person.")
        else:
            audit_record(audited, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail="no such change")
            raise BadRequest("no such change")
    except PersonsRefused as exc:  # on the record already
        raise PermissionDenied(str(exc)) from None
    except PersonUnknown as exc:
        raise Http404(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return redirect("casework:person", case_id=case.pk, person_id=person.pk)


@require_POST
def persons_settings(request: HttpRequest, case_id: int) -> HttpResponse:
    """Set how the case's faces are grouped (its lead or staff): minimum faces and maximum distance. A value that is
    no number, or out of range, is a 400 that says what is accepted (audited as refused)."""
    case = case_or_404(request, case_id, CaseAction.MANAGE, audited="persons.settings")
    min_faces, max_distance = request.POST.get("min_faces", "").strip(), request.POST.get("max_distance", "").strip()
    try:
        if not (min_faces.isascii() and min_faces.isdigit() and len(min_faces) <= 6):
            raise ValueError("minimum faces must be a whole number (2 to 1000)")
        try:
            distance = float(max_distance) if max_distance.isascii() and len(max_distance) <= 20 else math.nan
        except ValueError:
            distance = math.nan
        if not math.isfinite(distance):
            raise ValueError("maximum distance must be a number between 0 and 2")
    except ValueError as exc:
        audit_record("persons.settings", outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=str(exc))
        raise BadRequest(str(exc)) from None
    try:
        person_settings_set(case=case, user=request.user, min_faces=int(min_faces), max_distance=distance)
    except PersonsRefused as exc:  # on the record already
        raise PermissionDenied(str(exc)) from None
    except ValueError as exc:  # on the record already
        raise BadRequest(str(exc)) from None
    messages.success(request, "Clustering settings saved: a full re-cluster applies them to every face.")
    return redirect("casework:detail", case_id=case.pk)


@require_GET
def face_crop(request: HttpRequest, case_id: int, face_id: int) -> HttpResponse:
    """The small picture of a face of the case (the person strips and pages show them)."""
    case = case_or_404(request, case_id, audited="persons.view")
    face = case_faces(case_id=case.pk).filter(pk=face_id).only("crop").first() if face_id < 2**63 else None
    if face is None or not face.crop:
        raise Http404("The case has no such face.")
    response = HttpResponse(bytes(face.crop), content_type="image/jpeg")
    patch_cache_control(response, private=True, max_age=365 * 24 * 3600, immutable=True)
    return response
