"""Who may see or change a case itself (its title, members, the decisions waiting on its lead): staff every case, its
members by their role. The one place for the case pages' rules; what a member may do with the case's jobs is
jobs.access, with the images review.services."""

from __future__ import annotations

import enum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from cases.models import OWN_CASE_REFERENCE, Case, CaseMember

User = AbstractBaseUser | AnonymousUser


class CaseAction(enum.StrEnum):
    """What a user wants to do with a case. Every member (and staff) may VIEW it: its jobs, categories, members and
    counters; only its lead and staff MANAGE it: change its title and description, decide who is a member with
    which role, and see the disputes and proposals that wait on the lead."""

    VIEW = "view"
    MANAGE = "manage"


ROLE_ACTIONS: dict[str, frozenset[CaseAction]] = {
    "staff": frozenset(CaseAction),
    CaseMember.Role.LEAD: frozenset(CaseAction),
    CaseMember.Role.EXAMINER: frozenset({CaseAction.VIEW}),
    CaseMember.Role.REVIEWER: frozenset({CaseAction.VIEW}),
}


def case_role_of(*, case_id: int, user: User) -> str | None:
    """A user's standing in a case: "staff" for staff, else their role in it; None for anyone else, and for a user
    signed out or deactivated. The one rule jobs.access and review.services read roles by."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return "staff"
    return CaseMember.objects.filter(case_id=case_id, user=user).values_list("role", flat=True).first()


def case_allows(*, case_id: int, user: User, action: CaseAction) -> bool:
    """Whether the user may do `action` with the case by their standing in it now (read again by a service under the
    case's lock, so that a role lowered meanwhile counts)."""
    return action in ROLE_ACTIONS.get(case_role_of(case_id=case_id, user=user) or "", frozenset())


def case_list_for_user(*, user: User, single_job: bool = True) -> QuerySet[Case]:
    """The cases a user may see, each with the user's own role in it (`viewer_role`: None for staff who are not a
    member); staff see every case. Without `single_job`, less the cases made for one job alone ("job-<id>")."""
    if not user.is_authenticated or not user.is_active:
        return Case.objects.none()
    membership = CaseMember.objects.filter(case=OuterRef("pk"), user=user)
    cases = Case.objects.select_related("scheme").annotate(viewer_role=Subquery(membership.values("role")[:1]))
    if not user.is_staff:
        cases = cases.filter(Exists(membership))
    if not single_job:
        cases = cases.exclude(reference__regex=rf"^{OWN_CASE_REFERENCE.pattern}$")
    return cases


def case_permissions(*, case: Case, user: User) -> frozenset[CaseAction]:
    """What the user may do with a case read through case_list_for_user."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return ROLE_ACTIONS.get("staff" if user.is_staff else case.viewer_role or "", frozenset())


def case_get_for_user(
    *, user: User, case_id: int | None = None, reference: str = "", action: CaseAction = CaseAction.VIEW
) -> Case:
    """The case (by id, or else by reference), if the user may see it. Raises Case.DoesNotExist when they may not
    see it (so that its existence is not disclosed) and PermissionDenied when they may see it but not do
    `action`."""
    cases = case_list_for_user(user=user)
    case = cases.get(pk=case_id) if case_id is not None else cases.get(reference=reference.strip())
    if action not in case_permissions(case=case, user=user):
        raise PermissionDenied(f"you may not {action} case {case.reference}")
    return case
