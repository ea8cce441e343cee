"""Flower through the web app: `/flower/` for staff, every operation done there attributed and in the audit log.

Flower itself (`make up`, compose) listens where only the web app reaches it, under the prefix `/flower`, and asks
for FLOWER_BASIC_AUTH. The web app forwards a signed-in staff member's requests to it (django-revproxy) with that
login, so an operator needs no shared password, and records each operation — cancelling or adding a consumer,
resizing or restarting a pool, shutting a worker down, revoking a task — as the API records its own (PauseQueue and
Flower's "cancel consumer" are the same action, `queue.pause`, and both mark the queue paused for ListWorkers).
Flower's calls that run a task of the caller's choosing (apply, async-apply, send-task) are refused: they would
start work around the checks of the web app and the API. Any other change is refused too; looking is not recorded.

What is passed on is what was checked and recorded: a path with an empty or dot segment is refused (the HTTP client
would resolve `..` after the checks), and an operation's parameters must come as a form in its body, which Django
and Flower read alike. Only a few plain headers of the browser's request go on (never its cookies or tokens).

Flower's page scripts cannot send Django's CSRF token, so a change must come from this site's own pages instead:
its `Origin` (and, where the browser sends it, `Sec-Fetch-Site`) must name this site. Flower's pages keep the web
app's Content-Security-Policy, with what Flower has inline allowed by its hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from csp.decorators import csp_update
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from revproxy.views import ProxyView

from api.services import queue_pause_clear, queue_pause_record
from audit.models import AuditEvent
from audit.services import audit_record

# Flower's operations, by the path after `api/` up to the worker's name or the task's id: the audit log's action.
OPERATIONS = {
    "worker/queue/cancel-consumer": "queue.pause",
    "worker/queue/add-consumer": "queue.resume",
    "worker/pool/grow": "worker.concurrency",
    "worker/pool/shrink": "worker.concurrency",
    "worker/pool/autoscale": "worker.concurrency",
    "worker/pool/restart": "worker.restart_pool",
    "worker/shutdown": "worker.shutdown",
    "task/revoke": "task.revoke",
    "task/abort": "task.abort",
    "task/timeout": "task.timeout",
    "task/rate-limit": "task.rate_limit",
}
# What Flower reads with a POST (the Tasks page's table): passed on, from this site's own pages only, not recorded.
POSTED_READS = ("tasks/datatable",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FORM = "application/x-www-form-urlencoded"
# The browser's request headers Flower is given; no other (the web app's session cookie, its CSRF token...).
PASSED_HEADERS = {
    "accept", "accept-encoding", "accept-language", "content-type", "if-modified-since", "if-none-match",
    "user-agent", "x-requested-with",
}  # fmt: skip


def _csp_hash(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


# What Flower's pages have inline, allowed by hash: a script in flower/templates/workers.html (as Tornado renders
# it, auto-refresh on or off) and a style attribute in worker.html.
FLOWER_CSP = {
    "script-src": [_csp_hash(f"\nvar autorefresh = {on};\n") for on in (1, 0)],
    "style-src": ["'unsafe-hashes'", _csp_hash("width: 125px;")],
}


@functools.cache
def _pool(timeout: float) -> urllib3.PoolManager:
    """Connections to Flower, given up on after `timeout` seconds without an answer."""
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout))


@dataclass(frozen=True)
class _Request:
    """A request to Flower as the audit log records it."""

    operation: str  # Flower's, e.g. "worker/queue/cancel-consumer"; "" for anything else
    action: str
    target: str
    data: dict[str, Any]

    @classmethod
    def of(cls, request: HttpRequest, path: str) -> _Request:
        safe = request.method in SAFE_METHODS
        operation, _, subject = path.removeprefix("api/").rpartition("/")
        if safe or not path.startswith("api/") or operation not in OPERATIONS or not subject:
            return cls("", "flower.view" if safe else "flower.change", path, {})
        # Flower reads a value with Tornado's get_argument: the body's form (or the query), stripped.
        request.body  # noqa: B018 - read now, so that it can still be passed on once parsed
        parameters = {key: value.strip() for key, value in request.POST.dict().items()}
        if operation.startswith("worker/"):
            parameters.pop("workername", None)  # Flower's scripts repeat the worker's name of the path
        queue = parameters.get("queue", "")
        if operation.startswith("worker/queue/") and queue:  # as the API's PauseQueue records it
            return cls(
                operation, OPERATIONS[operation], f"{queue} on {subject}", {"queue": queue, "workers": [subject]}
            )
        return cls(operation, OPERATIONS[operation], subject, {"parameters": parameters})

    def record(self, outcome: str, detail: str) -> None:
        audit_record(self.action, outcome=outcome, target=self.target, detail=detail, **self.data)


def _plain(path: str) -> bool:
    """Whether `path` (decoded) has no dot segment and no empty one before its end."""
    segments = path.split("/")
    return not any(s in (".", "..") for s in segments) and "" not in segments[:-1]


def _same_site(request: HttpRequest) -> bool:
    """Whether an unsafe request comes from this site's own pages (OWASP: verifying origin with standard headers)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    origin = request.headers.get("Origin", "")
    own = f"{request.scheme}://{request.get_host()}"
    return bool(origin) and (origin == own or origin in settings.CSRF_TRUSTED_ORIGINS)


def _read_alike(request: HttpRequest) -> bool:
    """Whether Django and Flower read the same parameters from an unsafe request: none in the query, and a body
    that is empty or a form by both their tests of its type (Django's exact, Tornado's case-sensitive prefix)."""
    if request.GET:
        return False
    return not request.body or (request.content_type == FORM and request.META.get("CONTENT_TYPE", "").startswith(FORM))


def _refusal(request: HttpRequest, path: str, asked: _Request) -> str:
    """Why the request is not passed on to Flower; "" if it is."""
    if not request.user.is_staff:
        return "Flower is for staff only"
    if not _plain(path):
        return "a path with an empty or dot segment"
    if request.method in SAFE_METHODS:
        return ""
    if not _same_site(request):
        return "a change must come from this site's own pages"
    if not asked.operation and path not in POSTED_READS:
        return f"Flower's {path} is not allowed here"
    if not _read_alike(request):
        return "parameters must come as a form in the request's body"
    return ""


@method_decorator(csp_update(FLOWER_CSP), name="dispatch")
class FlowerProxy(ProxyView):
    add_x_forwarded = False
    strict_cookies = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = _pool(settings.FLOWER_TIMEOUT)

    @property
    def upstream(self) -> str:
        return settings.FLOWER_URL.rstrip("/") + "/flower/"

    def get_request_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in super().get_request_headers().items() if k.lower() in PASSED_HEADERS}
        login = settings.FLOWER_BASIC_AUTH.split(",")[0]
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        return headers

    def dispatch(self, request: HttpRequest, path: str) -> HttpResponse:
        if not settings.FLOWER_URL:
            raise Http404("Flower is not set up here (FLOWER_URL)")
        asked = _Request.of(request, path)
        refusal = _refusal(request, path, asked)
        if refusal:
            asked.record(AuditEvent.Outcome.REFUSED, refusal)
            raise PermissionDenied(refusal)
        try:
            response = super().dispatch(request, path)
            if response.streaming:  # Flower's answers are small: whole, they need no thread to stream them (ASGI)
                response = HttpResponse(
                    b"".join(response.streaming_content), status=response.status_code, headers=response.headers
                )
        except urllib3.exceptions.HTTPError as exc:
            return self._failed(asked, f"Flower does not answer at {urlsplit(settings.FLOWER_URL).netloc}: {exc}")
        if response.status_code == 401:
            return self._failed(asked, "Flower refused the web app's login (FLOWER_BASIC_AUTH)")
        response.cookies.clear()  # Flower's own (_xsrf): it needs none behind its basic login
        if asked.operation:
            self._done(asked, response)
        return response

    @staticmethod
    def _failed(asked: _Request, reason: str) -> HttpResponse:
        if asked.operation:
            asked.record(AuditEvent.Outcome.FAILED, f"Flower {asked.operation}: {reason}")
        return HttpResponse(reason, status=502, content_type="text/plain")

    def _done(self, asked: _Request, response: HttpResponse) -> None:
        if response.status_code >= 400:
            asked.record(AuditEvent.Outcome.FAILED, f"Flower {asked.operation}: HTTP {response.status_code}")
            return
        asked.record(AuditEvent.Outcome.OK, f"Flower {asked.operation}")
        queue = asked.data.get("queue")
        if asked.operation == "worker/queue/cancel-consumer" and queue:
            queue_pause_record(worker=asked.data["workers"][0], queue=queue, by=self.request.user)
        elif asked.operation == "worker/queue/add-consumer" and queue:
            queue_pause_clear(worker=asked.data["workers"][0], queue=queue)
