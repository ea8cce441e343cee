"""Every web request acts as its signed-in user, from its client's address (audit.services.acting_as)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit.models import AuditEvent
from audit.services import acting_as, actor_for


def client_address(request: HttpRequest | None) -> str:
    """The address the request came from: the peer's, or behind AUDIT_PROXY_HOPS proxies the one the outermost of
    them saw (what a client writes into X-Forwarded-For itself stands further left, and is not taken)."""
    if request is None:
        return ""
    hops = settings.AUDIT_PROXY_HOPS
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


class AuditActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(actor_for(request.user, via=AuditEvent.Via.WEB, client=client_address(request))):
            return self.get_response(request)
