"""Sources a test user may scan: a case they work in, with the sources assigned to it (as staff would)."""

from __future__ import annotations

from cases.models import Case, CaseMember, CaseSource
from cases.services import scheme_named


def sources_assigned(user, *names: str, role: str = CaseMember.Role.LEAD) -> Case:
    """The case "sources-<user id>", `user` its member with `role` (lead by default), with the sources `names`
    assigned to it: what a user who is not staff needs before they may start a job on those sources. Written
    directly, off the record: the tests of the record count what the code under test writes."""
    case, _ = Case.objects.get_or_create(
        reference=f"sources-{user.pk}", defaults={"title": "sources", "scheme": scheme_named()}
    )
    CaseMember.objects.update_or_create(case=case, user=user, defaults={"role": role})
    for name in names:
        CaseSource.objects.get_or_create(case=case, name=name)
    return case
