"""The signed-in user's API tokens: list, create (shown once), revoke. A user only ever sees and revokes their own."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from api.forms import TokenForm
from api.selectors import api_token_list
from api.services import api_token_create, api_token_revoke


@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = ""
    if request.method == "POST" and form.is_valid():
        _, created = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = TokenForm()
    response = render(
        request,
        "api/tokens.html",
        {"tokens": api_token_list(user=request.user), "form": form, "created": created},
    )
    # The new token is in this page only: no cache may keep it.
    add_never_cache_headers(response)
    return response


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token.")
    messages.success(request, "Token revoked: calls with it are refused from now on.")
    return redirect("api:tokens")
