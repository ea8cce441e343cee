"""The staff's users page (list, invite, deactivate / reactivate, delete), the email page of allauth with the
rule that only a verified address is ever primary, and its sign-in page that offers sign-up only while it is open."""

from __future__ import annotations

import functools

from allauth.account.adapter import get_adapter
from allauth.account.views import EmailView as AllauthEmailView
from allauth.account.views import LoginView as AllauthLoginView
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import email_is_verified, user_list
from accounts.services import InviteRefused, UserChangeRefused, user_delete, user_invite, user_set_active
from audit.models import AuditEvent
from audit.services import audit_record, user_label


def _staff(view):
    """Staff only; anyone else gets the same 404 as for a page that does not exist."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Invite (email)", widget=forms.EmailInput(attrs={"placeholder": "a colleague's email"})
    )


def _user_or_404(user_id: int):
    try:
        return get_user_model().objects.get(pk=user_id)
    except get_user_model().DoesNotExist:
        raise Http404("No such user.") from None


@require_GET
@_staff
def users(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/users.html", {"users": user_list(), "invite_form": InviteForm()})


@require_POST
@_staff
def user_invite_view(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("accounts:users")
    email = form.cleaned_data["email"]
    try:
        user_invite(email=email, by=request.user, site_url=request.build_absolute_uri("/"))
    except InviteRefused as exc:
        messages.error(request, str(exc))
    except OSError as exc:  # smtplib's errors too: the account is made, only the mail did not go
        messages.error(
            request,
            f"Account made for {email}, but the invitation could not be sent ({exc}): they can "
            'ask for a link with "Forgot your password?" on the sign-in page.',
        )
    else:
        messages.success(request, f"{email} invited: a link to choose a password was sent to them.")
    return redirect("accounts:users")


@require_POST
@_staff
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _user_or_404(user_id)
    active = request.POST.get("active") == "1"
    try:
        user_set_active(user=user, active=active, by=request.user)
    except UserChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{user.email} {'reactivated' if active else 'deactivated'}.")
    return redirect("accounts:users")


@require_http_methods(["GET", "POST"])
@_staff
def user_remove(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _user_or_404(user_id)
    if request.method == "POST":
        try:
            moved = user_delete(user=user, by=request.user)
        except UserChangeRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{user.email} deleted; {moved} of their jobs are now yours.")
        return redirect("accounts:users")
    return render(request, "accounts/user_delete.html", {"target": user, "jobs": user.jobs.count()})


class EmailView(AllauthEmailView):
    """allauth's email page, except that an address that is not verified is never made primary. allauth allows it
    for an account that has no verified address at all: its primary address becomes the account's email, by which
    shares are addressed and the audit log names it, so that would turn a claim into an identity."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        email = request.POST.get("email", "")
        if "action_primary" in request.POST and not email_is_verified(user=request.user, email=email):
            audit_record(
                "user.email",
                outcome=AuditEvent.Outcome.REFUSED,
                target=user_label(request.user),
                detail=f"{email} is not verified: not made primary",
            )
            messages.error(request, "Only a verified address can be your primary address: follow the link sent to it.")
            return redirect("account_email")
        return super().post(request, *args, **kwargs)


class LoginView(AllauthLoginView):
    """allauth's sign-in page, without its link to sign up where the adapter keeps sign-up closed: allauth offers the
    link whatever the adapter says, and it leads to a page that only says sign-up is closed."""

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        if not get_adapter(self.request).is_open_for_signup(self.request):
            context["signup_url"] = None
        return context
