"""Case pages: the cases a user is a member of, a new case, and a case's overview (its jobs, category scheme,
members, review counters, and for its lead the disputes and proposals waiting). Adapters only: who may see or
change a case is cases.access, the changes are cases.services (audited), the reads the selectors of cases, jobs and
review.

Any signed-in user may make a case, and leads it. A user who is not a member of a case gets 404 for every page of it
(staff see every case); a member who may see it but not manage it gets 403. Each refusal is in the audit log."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEvent
from audit.services import audit_record
from cases.access import CaseAction, case_get_for_user, case_list_for_user, case_permissions
from cases.models import Case
from cases.selectors import case_categories, case_members, vics_incompatible
from cases.services import (
    CaseManageRefused,
    CaseRefused,
    case_create,
    case_member_remove,
    case_member_set,
    case_update,
)
from casework.forms import CaseCreateForm, CaseEditForm, MemberForm, MemberRoleForm, ReportForm
from jobs.selectors import case_image_ids, case_image_jobs, case_jobs, case_totals, hash_match_counts
from jobs.veils import veils_for
from persons.selectors import person_settings_shown, person_strip
from reports.selectors import report_progress, reports_of
from review.selectors import disputes, proposals_waiting, review_counters

# The most disputes, and proposals waiting, listed on a case's page (the counts say how many there are).
WAITING_SHOWN = 100
# The user's own reports of the case listed on its page, newest first.
REPORTS_SHOWN = 10


def case_or_404(request: HttpRequest, case_id: int, action: CaseAction = CaseAction.VIEW, audited: str = "") -> Case:
    """The case if the signed-in user may see it; 404 if not (its existence is not disclosed), 403 if they may see
    it but not do `action`. A refusal is recorded in the audit log as `audited` (default: case.<action>)."""
    audited = audited or f"case.{action}"
    try:
        return case_get_for_user(user=request.user, case_id=case_id, action=action)
    except Case.DoesNotExist:
        audit_record(audited, outcome=AuditEvent.Outcome.REFUSED, detail="no case they may see", case_id=case_id)
        raise Http404("No such case.") from None
    except PermissionDenied as exc:
        audit_record(audited, outcome=AuditEvent.Outcome.REFUSED, detail=str(exc), case_id=case_id)
        raise


def _refused(action: str, case: Case, why: str) -> None:
    audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=why)


def _form_refusal(form: Form) -> str:
    """Why a member form was refused, in the form's own words: the fields at fault and their errors (an unknown
    address reads as an unverified one or an inactive account's: casework.forms.NO_ACCOUNT)."""
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    single_job = request.GET.get("single") == "1"
    cases = case_list_for_user(user=request.user, single_job=single_job)
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    totals = case_totals(case_ids=[case.pk for case in page])
    for case in page:
        case.totals = totals[case.pk]
    return render(request, "casework/list.html", {"page": page, "single_job": single_job})


@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    form = CaseCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = case_create(
                reference=data["reference"],
                title=data["title"],
                description=data["description"],
                owner=request.user,
                scheme=data["scheme"],
            )
        except CaseRefused as exc:
            audit_record("case.create", outcome=AuditEvent.Outcome.REFUSED, target=data["reference"], detail=str(exc))
            form.add_error("reference", str(exc))
        else:
            messages.success(request, f"Case {case.reference} created: you lead it.")
            return redirect("casework:detail", case_id=case.pk)
    return render(request, "casework/new.html", {"form": form})


def _detail(
    request: HttpRequest,
    case: Case,
    *,
    edit_form: CaseEditForm | None = None,
    member_form: MemberForm | None = None,
    member_error: str = "",
) -> HttpResponse:
    can = case_permissions(case=case, user=request.user)
    now = timezone.now()
    persons = list(person_strip(case_id=case.pk))
    faces = [person.representative_id for person in persons if person.representative_id]
    persons_veils = veils_for(user=request.user, cases=[case.pk], faces=faces)
    context = {
        "case": case,
        "can": {action.value: True for action in can},
        "categories": case_categories(case=case),
        "vics_refusal": vics_incompatible(case),
        "jobs": case_jobs(case_id=case.pk),
        "members": case_members(case_id=case.pk).order_by("user__email"),
        "counters": review_counters(case=case, image_ids=case_image_ids(case_id=case.pk)),
        "hash_matches": hash_match_counts(jobs=case_jobs(case_id=case.pk)),
        "persons": persons,
        "veils": persons_veils,
        "report_form": ReportForm(jobs=case_jobs(case_id=case.pk)),
        "reports": [report_progress(r, now=now) for r in reports_of(case=case, user=request.user)[:REPORTS_SHOWN]],
        "person_settings": person_settings_shown(case_id=case.pk),
    }
    if CaseAction.MANAGE in can:
        waiting = {
            "disputes": disputes(case=case).order_by("-set_at", "image_id"),
            "proposals": proposals_waiting(case=case).order_by("set_at", "image_id"),
        }
        shown = {name: list(rows[:WAITING_SHOWN]) for name, rows in waiting.items()}
        where = case_image_jobs(case_id=case.pk, image_ids={row.image_id for rows in shown.values() for row in rows})
        for row in (row for rows in shown.values() for row in rows):
            row.job_id = where.get(row.image_id)
        context |= {
            **shown,
            "disputes_count": waiting["disputes"].count(),
            "proposals_count": waiting["proposals"].count(),
            "edit_form": edit_form or CaseEditForm(instance=case),
            "member_form": member_form or MemberForm(),
            "member_error": member_error,
            "roles": MemberRoleForm.base_fields["role"].choices,
        }
    return render(request, "casework/detail.html", context)


@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    return _detail(request, case_or_404(request, case_id))


@require_POST
def case_edit(request: HttpRequest, case_id: int) -> HttpResponse:
    case = case_or_404(request, case_id, CaseAction.MANAGE, audited="case.update")
    form = CaseEditForm(request.POST, instance=case)
    if not form.is_valid():
        return _detail(request, case_or_404(request, case_id), edit_form=form)
    try:
        case_update(case=case, fields=form.changed_data, by=request.user)
    except CaseManageRefused as exc:
        raise PermissionDenied(str(exc)) from None
    messages.success(request, "Case saved.")
    return redirect("casework:detail", case_id=case.pk)


@require_POST
def case_member_add(request: HttpRequest, case_id: int) -> HttpResponse:
    """Make the account with the verified address posted a member with the role posted (or give a member that
    role)."""
    case = case_or_404(request, case_id, CaseAction.MANAGE, audited="case.member.set")
    form = MemberForm(request.POST)
    if not form.is_valid():
        _refused("case.member.set", case, _form_refusal(form))
        return _detail(request, case, member_form=form)
    try:
        case_member_set(case=case, user=form.user, role=form.cleaned_data["role"], by=request.user)
    except CaseManageRefused as exc:
        raise PermissionDenied(str(exc)) from None
    except CaseRefused as exc:
        _refused("case.member.set", case, str(exc))
        form.add_error(None, str(exc))
        return _detail(request, case, member_form=form)
    messages.success(request, f"{form.cleaned_data['email']} is {form.cleaned_data['role']} of the case.")
    return _after_member_change(request, case)


def _member_or_404(case: Case, user_id: int, action: str):
    member = case_members(case_id=case.pk).filter(user_id=user_id).first()
    if member is None:
        _refused(action, case, f"user {user_id} is no member of the case")
        raise Http404("The case has no such member.")
    return member


@require_POST
def case_member_role(request: HttpRequest, case_id: int, user_id: int) -> HttpResponse:
    case = case_or_404(request, case_id, CaseAction.MANAGE, audited="case.member.set")
    member = _member_or_404(case, user_id, "case.member.set")
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        _refused("case.member.set", case, _form_refusal(form))
        return _detail(request, case, member_error="Choose one of the roles offered.")
    try:
        case_member_set(case=case, user=member.user, role=form.cleaned_data["role"], by=request.user)
    except CaseManageRefused as exc:
        raise PermissionDenied(str(exc)) from None
    except CaseRefused as exc:
        _refused("case.member.set", case, str(exc))
        return _detail(request, case, member_error=str(exc))
    messages.success(request, f"{member.user.email} is {form.cleaned_data['role']} of the case.")
    return _after_member_change(request, case)


@require_POST
def case_member_delete(request: HttpRequest, case_id: int, user_id: int) -> HttpResponse:
    case = case_or_404(request, case_id, CaseAction.MANAGE, audited="case.member.remove")
    member = _member_or_404(case, user_id, "case.member.remove")
    try:
        case_member_remove(case=case, user_id=member.user_id, by=request.user)
    except CaseManageRefused as exc:
        raise PermissionDenied(str(exc)) from None
    except CaseRefused as exc:
        _refused("case.member.remove", case, str(exc))
        return _detail(request, case, member_error=str(exc))
    messages.success(request, f"{member.user.email} is no longer a member of the case.")
    return _after_member_change(request, case)


def _after_member_change(request: HttpRequest, case: Case) -> HttpResponse:
    """Back to the case, unless the user just gave up the rights to see it."""
    if not case_list_for_user(user=request.user).filter(pk=case.pk).exists():
        return redirect("casework:list")
    return redirect("casework:detail", case_id=case.pk)
