"""Case writes: create a case, change its title and description, set or remove a member's role, delete it. Audited
as `case.create`, `case.update`, `case.member.set`, `case.member.remove`, `case.delete`; staff assign sources to a
case and take them back (`case.source.assign`, `case.source.unassign`; refused to anyone else, on the record). A
case that has a lead keeps one (CaseRefused). A change made on a user's behalf (`by`) checks, under the case's row
lock, that they may still manage the case (CaseManageRefused, audited). A membership removed or lowered is announced
(`cases.signals.membership_lost`), so that open sockets check access again once the change commits."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import audit_record, user_label
from cases.access import CaseAction, case_allows
from cases.models import OWN_CASE_REFERENCE, ROLE_RANK, Case, CaseMember, CaseSource, Category, CategoryScheme
from cases.schemes import BUILT_IN_SCHEMES, GENERAL, schemes_built_in
from cases.signals import membership_lost

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CaseRefused(ValueError):
    """The case cannot be made or changed so; the text says why."""


class CaseManageRefused(CaseRefused):
    """The acting user may not (or, checked under the case's lock, no longer) manage the case. Recorded in the audit
    log already."""


def own_case_reference(job_id: int) -> str:
    return f"job-{job_id}"


def scheme_named(*, name: str = GENERAL) -> CategoryScheme | None:
    """The scheme called `name` (by default the general one, which a case made with none named gets), or None. A
    built-in one (cases.schemes) the database lacks, emptied since it was migrated (`manage.py flush`), is made
    again."""
    name = name.strip()
    if name in BUILT_IN_SCHEMES and not CategoryScheme.objects.filter(name=name).exists():
        schemes_built_in(CategoryScheme, Category)
    return CategoryScheme.objects.filter(name=name).first()


def case_create(
    *,
    reference: str,
    title: str,
    description: str = "",
    owner: AbstractBaseUser | None = None,
    scheme: CategoryScheme | None = None,
) -> Case:
    """A new case, its owner (if any) its lead, its categories those of `scheme` (default: the general scheme).
    CaseRefused for an empty reference, one in use, or one of the form that names a single job's case."""
    reference = reference.strip()
    if not reference or len(reference) > Case._meta.get_field("reference").max_length:
        raise CaseRefused("a case reference has 1 to 64 characters")
    if OWN_CASE_REFERENCE.fullmatch(reference):
        raise CaseRefused(f"{reference!r} names the case of a single job: choose another reference")
    with transaction.atomic():
        if Case.objects.filter(reference=reference).exists():
            raise CaseRefused(f"case {reference} exists already")
        try:
            with transaction.atomic():  # made at the same time by another: a savepoint, so the caller can go on
                case = Case.objects.create(
                    reference=reference,
                    title=title or reference,
                    description=description,
                    owner=owner,
                    scheme=scheme or scheme_named(),
                )
        except IntegrityError:
            raise CaseRefused(f"case {reference} exists already: it was made meanwhile") from None
        _created(case)
    return case


def case_of_its_own(*, title: str, owner: AbstractBaseUser | None, make: Callable[[Case], T]) -> tuple[Case, T]:
    """A case for one new job, made by `make(case)`, its reference "job-<the job's id>", the owner its lead."""
    with transaction.atomic():
        case = Case.objects.create(reference=f"new-{uuid.uuid4().hex}", title=title, owner=owner, scheme=scheme_named())
        made = make(case)
        case.reference = own_case_reference(made.pk)
        case.save(update_fields=["reference"])
        _created(case)
    return case, made


def _created(case: Case) -> None:
    if case.owner is not None:
        CaseMember.objects.create(case=case, user=case.owner, role=CaseMember.Role.LEAD)
    audit_record(
        "case.create",
        target=case.reference,
        title=case.title,
        owner=user_label(case.owner) if case.owner else "",
    )
    logger.info("case %s: created as %s", case.pk, case.reference)


def case_locked(*, case_id: int) -> Case:
    """The case, its row locked until the transaction ends: whoever changes its members or adds a job to it takes
    this lock first, so that a check made under it (who leads, who may add jobs) still holds at commit."""
    return Case.objects.select_for_update().get(pk=case_id)


@contextmanager
def _managing(action: str, case: Case, by: AbstractBaseUser | None) -> Iterator[None]:
    """A change to the case under its row lock; when made by a user (`by`), one who may manage the case as the lock
    is taken (a lead lowered meanwhile may not). Their refusal is recorded once the transaction is rolled back."""
    try:
        with transaction.atomic():
            case_locked(case_id=case.pk)
            if by is not None and not case_allows(case_id=case.pk, user=by, action=CaseAction.MANAGE):
                raise CaseManageRefused(f"{user_label(by)} may not manage case {case.reference}")
            yield
    except CaseManageRefused as exc:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=str(exc))
        raise


def _leads_left(case_id: int, *, without: int) -> bool:
    return CaseMember.objects.filter(case_id=case_id, role=CaseMember.Role.LEAD).exclude(user_id=without).exists()


def case_member_set(*, case: Case, user: AbstractBaseUser, role: str, by: AbstractBaseUser | None = None) -> CaseMember:
    """Make the user a member of the case with `role`, or change the role they have. A lowered role is announced.
    CaseRefused when it would lower the case's last lead; CaseManageRefused when `by` (the acting user, if given)
    may not manage the case."""
    role = CaseMember.Role(role)
    with _managing("case.member.set", case, by):
        before = CaseMember.objects.filter(case=case, user=user).values_list("role", flat=True).first()
        if before == CaseMember.Role.LEAD and role != before and not _leads_left(case.pk, without=user.pk):
            raise CaseRefused(f"case {case.reference} must keep a lead: make another member lead first")
        member, _ = CaseMember.objects.update_or_create(case=case, user=user, defaults={"role": role})
        if before != role:
            audit_record("case.member.set", target=case.reference, detail=f"{user_label(user)}: {role}",
                         was=before or "")  # fmt: skip
        if before is not None and ROLE_RANK[CaseMember.Role(before)] > ROLE_RANK[role]:
            membership_lost.send(sender=CaseMember, user_id=user.pk)
    return member


def case_member_remove(*, case: Case, user_id: int, why: str = "", by: AbstractBaseUser | None = None) -> bool:
    """Remove the user from the case. Returns whether they were a member. CaseRefused when they are its last lead;
    CaseManageRefused when `by` (the acting user, if given) may not manage the case."""
    with _managing("case.member.remove", case, by):
        role = CaseMember.objects.filter(case=case, user_id=user_id).values_list("role", flat=True).first()
        if role == CaseMember.Role.LEAD and not _leads_left(case.pk, without=user_id):
            raise CaseRefused(f"case {case.reference} must keep a lead: make another member lead first")
        return _member_remove(case, user_id, why)


def _member_remove(case: Case, user_id: int, why: str) -> bool:
    removed, _ = CaseMember.objects.filter(case=case, user_id=user_id).delete()
    if removed:
        audit_record("case.member.remove", target=case.reference, detail=why or f"user {user_id}")
        membership_lost.send(sender=CaseMember, user_id=user_id)
    return bool(removed)


def case_update(*, case: Case, fields: list[str], by: AbstractBaseUser | None = None) -> None:
    """Save the case's title and description (those of `fields` that changed), audited as `case.update`.
    CaseManageRefused when `by` (the acting user, if given) may not manage the case."""
    fields = [name for name in ("title", "description") if name in fields]
    if not fields:
        return
    with _managing("case.update", case, by):
        case.save(update_fields=fields)
        audit_record("case.update", target=case.reference, detail=", ".join(fields))


def case_delete(*, case: Case) -> None:
    """Delete a case that holds no job (Case.jobs protects the rest): each member is removed first, audited and
    announced as any removal is (the lead too: nothing is left to lead), then the case, audited as `case.delete`."""
    with transaction.atomic():
        case_locked(case_id=case.pk)
        for user_id in CaseMember.objects.filter(case=case).values_list("user_id", flat=True):
            _member_remove(case, user_id, "the case was deleted")
        reference = case.reference
        case.delete()
        audit_record("case.delete", target=reference)


def source_name_checked(name: str) -> str:
    """`name` if it can name a source (a top-level, not hidden folder of SOURCES_ROOT): one folder name, not a path.
    CaseRefused otherwise."""
    longest = CaseSource._meta.get_field("name").max_length
    if not name or len(name) > longest or "/" in name or "\x00" in name or name.startswith("."):
        raise CaseRefused(f"a source is named by one folder of the sources folder (1 to {longest} characters, no "
                          "'/', not hidden)")  # fmt: skip
    return name


def _staff_only(action: str, case: Case, name: str, by: AbstractBaseUser) -> None:
    if not (by.is_active and by.is_staff):
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=name[:255],
                     why="only staff assign sources to cases")  # fmt: skip
        raise CaseRefused("only staff assign sources to cases")


def case_source_assign(*, case: Case, name: str, by: AbstractBaseUser) -> CaseSource:
    """Assign the source `name` to the case (staff only, CaseRefused otherwise or for a name that cannot name a
    source): from now on the case's lead and examiners may scan it. Audited as `case.source.assign`; a source the
    case has already is returned as it is."""
    _staff_only("case.source.assign", case, name, by)
    name = source_name_checked(name)
    with transaction.atomic():
        case_locked(case_id=case.pk)
        source, made = CaseSource.objects.get_or_create(case=case, name=name, defaults={"assigned_by": by})
        if made:
            audit_record("case.source.assign", target=case.reference, detail=name, by=user_label(by))
    if made:
        logger.info("case %s: source %r assigned", case.pk, name)
    return source


def case_source_unassign(*, case: Case, name: str, by: AbstractBaseUser) -> bool:
    """Take the source `name` from the case (staff only, CaseRefused otherwise): its members can no longer start a
    job on it (the jobs made on it stay, and so do their reruns). Audited as `case.source.unassign`. Returns whether
    the case had it."""
    _staff_only("case.source.unassign", case, name, by)
    with transaction.atomic():
        case_locked(case_id=case.pk)
        removed, _ = CaseSource.objects.filter(case=case, name=name).delete()
        if removed:
            audit_record("case.source.unassign", target=case.reference, detail=name, by=user_label(by))
    return bool(removed)
