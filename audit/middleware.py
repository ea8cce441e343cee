"""Every web request acts as its signed-in user, from its client's address (audit.services.acting_as)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.models import AuditEvent
from audit.services import acting_as, actor_for


def client_address(request: HttpRequest | None) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class AuditActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(actor_for(request.user, via=AuditEvent.Via.WEB, client=client_address(request))):
            return self.get_response(request)
