"""CaseService: an adapter from gRPC to the case selectors and services, with the web app's permissions
(cases.access.case_get_for_user): a case the caller is no member of is NOT_FOUND, a change of its members by anyone
but its lead or staff PERMISSION_DENIED."""

from __future__ import annotations

import grpc
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from api.auth import current_user
from api.errors import ApiError
from api.jobs_servicer import timestamp_message
from cases.access import CaseAction, case_get_for_user, case_list_for_user, case_role_of
from cases.models import Case, CaseMember, Category
from cases.selectors import case_categories, case_members
from cases.services import (
    CaseManageRefused,
    CaseRefused,
    case_create,
    case_member_remove,
    case_member_set,
    scheme_named,
)
from imagescanner.v1 import cases_pb2 as pb
from imagescanner.v1 import cases_pb2_grpc
from jobs.access import share_recipient
from jobs.models import Job

ROLES = {
    CaseMember.Role.LEAD: pb.CASE_ROLE_LEAD,
    CaseMember.Role.EXAMINER: pb.CASE_ROLE_EXAMINER,
    CaseMember.Role.REVIEWER: pb.CASE_ROLE_REVIEWER,
}
ROLE_NAMES = {message: role for role, message in ROLES.items()}


def case_of_request(key: pb.CaseKey, action: CaseAction = CaseAction.VIEW) -> tuple[Case, str]:
    """The case a request names and the caller's role in it ("staff" for staff), if the caller may see it
    (NOT_FOUND otherwise, so that its existence is not disclosed) and do `action` with it (PERMISSION_DENIED
    otherwise)."""
    which = key.WhichOneof("key")
    if which is None or (which == "reference" and not key.reference.strip()):
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name a case: its id or its reference")
    named = key.id if which == "id" else key.reference.strip()
    if "\x00" in key.reference:  # no reference holds one (the database could not even compare it)
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no case {named!r}")
    try:
        if which == "id":
            case = case_get_for_user(user=current_user(), case_id=key.id, action=action)
        else:
            case = case_get_for_user(user=current_user(), reference=key.reference, action=action)
    except Case.DoesNotExist:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no case {named}") from None
    return case, case_role_of(case_id=case.pk, user=current_user()) or ""


def category_message(category: Category) -> pb.Category:
    return pb.Category(
        code=category.code,
        label=category.label,
        key=category.key,
        needs_confirmation=category.needs_confirmation,
        sensitive=category.sensitive,
        clears=category.clears,
    )


def case_message(case: Case, role: str, *, full: bool = False) -> pb.Case:
    """The case as the caller sees it; `full`: with its categories, members and jobs."""
    message = pb.Case(
        id=case.pk,
        reference=case.reference,
        title=case.title,
        description=case.description,
        owner_email=case.owner.email if case.owner else "",
        scheme=case.scheme.name,
        create_time=timestamp_message(case.created_at),
        role=ROLES.get(role, pb.CASE_ROLE_UNSPECIFIED),
    )
    if full:
        message.categories.extend(category_message(c) for c in case_categories(case=case))
        message.members.extend(
            pb.CaseMember(
                user_id=member.user_id, email=member.user.email, username=member.user.get_username(),
                role=ROLES[member.role],
            )
            for member in case_members(case_id=case.pk)
        )  # fmt: skip
        message.job_ids.extend(Job.objects.filter(case=case).order_by("pk").values_list("pk", flat=True))
    return message


def _member_named(request: pb.SetCaseMemberRequest, case: Case) -> AbstractBaseUser:
    """The active user a SetCaseMember request names: by an address they verified, or by id, which names only a
    member of the case, except for staff (a lead cannot add accounts by guessing ids and read who they are).
    NOT_FOUND otherwise, the same for all, so that a request cannot tell which accounts exist."""
    which = request.WhichOneof("user")
    if which == "email":
        user = None if "\x00" in request.email else share_recipient(email=request.email.strip())
    elif which == "user_id":
        users = get_user_model().objects.filter(pk=request.user_id, is_active=True)
        if not current_user().is_staff:
            users = users.filter(case_memberships__case=case)
        user = users.first()
    else:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name the user: an email address or a user id")
    if user is None:
        raise ApiError(grpc.StatusCode.NOT_FOUND, "no active user with that verified address or id")
    return user


class CaseServicer(cases_pb2_grpc.CaseServiceServicer):
    def ListCases(self, request: pb.ListCasesRequest, context) -> pb.ListCasesResponse:
        user = current_user()
        cases = case_list_for_user(user=user).select_related("owner").order_by("reference")
        return pb.ListCasesResponse(
            cases=[case_message(c, "staff" if user.is_staff else c.viewer_role or "") for c in cases]
        )

    def GetCase(self, request: pb.GetCaseRequest, context) -> pb.Case:
        case, role = case_of_request(request.case)
        return case_message(case, role, full=True)

    def CreateCase(self, request: pb.CreateCaseRequest, context) -> pb.Case:
        user = current_user()
        if len(request.title) > Case._meta.get_field("title").max_length:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "title is longer than 200 characters")
        if "\x00" in request.reference + request.title + request.description + request.scheme:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "no field of a case can hold NUL characters")
        scheme = None
        if request.scheme.strip():
            scheme = scheme_named(name=request.scheme)
            if scheme is None:
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"no category scheme {request.scheme.strip()!r}")
        try:
            case = case_create(
                reference=request.reference,
                title=request.title.strip(),
                description=request.description,
                owner=user,
                scheme=scheme,
            )
        except CaseRefused as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        return case_message(case, CaseMember.Role.LEAD, full=True)

    def SetCaseMember(self, request: pb.SetCaseMemberRequest, context) -> pb.Case:
        case, role = case_of_request(request.case, CaseAction.MANAGE)
        if request.role not in ROLE_NAMES:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "role must be lead, examiner or reviewer")
        member = _member_named(request, case)
        try:
            case_member_set(case=case, user=member, role=ROLE_NAMES[request.role], by=current_user())
        except CaseManageRefused as exc:
            raise ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), recorded=True) from None
        except CaseRefused as exc:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        return case_message(case, self._role_after(case, role), full=True)

    def RemoveCaseMember(self, request: pb.RemoveCaseMemberRequest, context) -> pb.Case:
        case, role = case_of_request(request.case, CaseAction.MANAGE)
        try:
            removed = case_member_remove(case=case, user_id=request.user_id, by=current_user())
        except CaseManageRefused as exc:
            raise ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), recorded=True) from None
        except CaseRefused as exc:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        if not removed:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"user {request.user_id} is no member of case {case.reference}")
        return case_message(case, self._role_after(case, role), full=True)

    @staticmethod
    def _role_after(case: Case, before: str) -> str:
        """The caller's role once they changed the case's members (a lead may have lowered or removed themself)."""
        if before == "staff":
            return before
        return CaseMember.objects.filter(case=case, user=current_user()).values_list("role", flat=True).first() or ""
