"""Case reads: a user's role in a case, the cases a user may add jobs to, a case by its reference, whether its
scheme's categories can be written as VICS."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from cases.models import OWN_CASE_REFERENCE, Case, CaseMember, Category

# The roles that may add jobs to a case and start, cancel or rerun them.
WORKING_ROLES = (CaseMember.Role.LEAD, CaseMember.Role.EXAMINER)


def case_role(*, case_id: int, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role in the case, or None."""
    if not user.is_authenticated:
        return None
    return CaseMember.objects.filter(case_id=case_id, user=user).values_list("role", flat=True).first()


def case_memberships(*, user: AbstractBaseUser) -> QuerySet[CaseMember]:
    return CaseMember.objects.filter(user=user)


def cases_for_work(*, user: AbstractBaseUser) -> QuerySet[Case]:
    """The cases in which the user is lead or examiner: the ones they may add jobs to. A single job's own case is
    not one of them: only its reruns join it."""
    cases = Case.objects.filter(members__user=user, members__role__in=WORKING_ROLES)
    return cases.exclude(reference__regex=rf"^{OWN_CASE_REFERENCE.pattern}$").order_by("reference")


def case_by_reference(*, reference: str) -> Case | None:
    return Case.objects.filter(reference=reference.strip()).first()


def case_members(*, case_id: int) -> QuerySet[CaseMember]:
    return CaseMember.objects.filter(case_id=case_id).select_related("user")


def case_categories(*, case: Case) -> QuerySet[Category]:
    """The categories of the case's scheme, in their order."""
    return Category.objects.filter(scheme_id=case.scheme_id).order_by("position", "id")


def vics_incompatible(case: Case) -> str:
    """Why the case's categories cannot be written as VICS categories ("" when they can): VICS numbers its
    categories, so a scheme whose every code is a number (Project VIC's 0-5, or a lab's own numbered scheme) is
    written as it is; a scheme with other codes (UK CAID's A-C, the general scheme's words) has no numbers another
    tool would read the same way, and is refused rather than guessed at."""
    codes = list(case.scheme.categories.values_list("code", flat=True))
    words = [code for code in codes if not (code.isascii() and code.isdecimal())]
    if not words:
        return ""
    return (
        f"the case's category scheme {case.scheme.name!r} has categories that are not numbers "
        f"({', '.join(sorted(words)[:5])}): VICS carries Project VIC's numbered categories only"
    )
