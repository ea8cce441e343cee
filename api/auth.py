"""Authentication of every gRPC call, and the mapping of the project's errors to gRPC status codes.

The interceptor wraps each method handler (the standard health service excepted: load balancers probe it without
credentials, and it tells nothing). The wrapper runs in the server's thread pool, where the database may be used:
it reads `authorization: Bearer <token>` from the metadata, rejects a missing, unknown or revoked token, or one of
a deactivated user, with UNAUTHENTICATED, and makes the user available to the servicer as `current_user()`, and to
the audit log as the actor (with the caller's address and the token's prefix).

Every streaming call also takes a slot of the server's stream limits (api.streams) for as long as it runs.

Every refused call (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED) is
recorded in the audit log, whatever its method (those without a valid token up to a number a minute from each
address), and so is every failure of a call that changes something or hands out evidence (AUDITED); their successes
are recorded by the code that carries them out. A fault of the server's is logged with its traceback and answered
UNKNOWN without its text, which may name server paths.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import grpc
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import close_old_connections
from google.protobuf.message import Message

from api.errors import ApiError
from api.services import api_token_authenticate
from api.streams import StreamSlots
from audit.models import AuditEvent
from audit.services import Actor, actor_for, actor_set, audit_record

logger = logging.getLogger(__name__)

# Services whose calls need no token.
OPEN_SERVICES = ("/grpc.health.v1.Health/",)
# Methods that change something or hand out evidence, and their actions in the audit log. Other methods' calls are
# recorded only when refused, as "api.<method>".
AUDITED = {
    "CreateJob": "job.create",
    "StartScan": "job.start",
    "CancelJob": "job.cancel",
    "RerunJob": "job.rerun",
    "DeleteJob": "job.delete",
    "StartVerification": "verify.start",
    "StreamFile": "file.stream",
    "PauseQueue": "queue.pause",
    "ResumeQueue": "queue.resume",
    "DrainWorker": "worker.drain",
    "SetConcurrency": "worker.concurrency",
    "CreateCase": "case.create",
    "SetCaseMember": "case.member.set",
    "RemoveCaseMember": "case.member.remove",
    "SetCategory": "review.category.set",
    "ConfirmCategory": "review.category.confirm",
    "ImportHashSet": "hashset.import",
    "EnableHashSet": "hashset.enable",
    "DisableHashSet": "hashset.disable",
    "DeleteHashSet": "hashset.delete",
    "NamePerson": "persons.name",
    "MergePersons": "persons.merge",
}
REFUSALS = (
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)
AUDIT_TEXT = 500
# What a client is told of a fault of the server's: an exception's text may name server paths or data.
SERVER_FAULT = "the server failed to answer this call; the fault is in its log"
# Calls without a valid token recorded per minute from one address: anyone who can reach the port can make them,
# and the log keeps every row for good.
UNAUTHENTICATED_RECORDS_PER_MINUTE = 60

# The caller of the RPC this thread is serving. A sync gRPC server serves each call, streams included, from one
# pool thread from start to end, and every authenticated call sets this before the servicer runs.
_caller: contextvars.ContextVar[AbstractBaseUser] = contextvars.ContextVar("api_caller")


def current_user() -> AbstractBaseUser:
    """The authenticated user of the call being served."""
    return _caller.get()


def bearer_token(metadata: tuple | None) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


def _request_fields(request: Any) -> dict[str, Any]:
    """The request's fields that are set, single scalar and text values only (text cut to AUDIT_TEXT characters:
    a refused request may be as large as gRPC lets in), for the audit log."""
    if not isinstance(request, Message):  # a client stream's request iterator
        return {}
    return {
        field.name: value[:AUDIT_TEXT] if isinstance(value, str) else value
        for field, value in request.ListFields()
        if isinstance(value, int | float | str)
    }


def _sender(peer: str) -> str:
    """Whom a call counts against: its IPv4 address, or its IPv6 /64 (one host can hold a whole /64)."""
    kind, _, rest = peer.partition(":")
    address = rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv6":
        try:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        except ValueError:
            return address
    return address


def unauthenticated_recorded(peer: str) -> bool:
    """Whether a call from `peer` ("ipv4:10.0.0.7:51234") without a valid token is recorded: the first
    UNAUTHENTICATED_RECORDS_PER_MINUTE of each minute from its address (counted in the cache, shared by servers).
    Recorded all the same when the cache cannot count (the call is refused either way)."""
    key = f"audit-unauthenticated:{_sender(peer)}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key) <= UNAUTHENTICATED_RECORDS_PER_MINUTE
    except ValueError:  # the count expired between the two calls
        return True
    except Exception:  # the cache is away
        logger.warning("cannot count calls without a token from %s: recording this one", peer, exc_info=True)
        return True


def _audit_end(method: str, request: Any, code: grpc.StatusCode, message: str, actor: Actor | None) -> None:
    """Record a call that did not succeed: any refused one, and any failure of an AUDITED method (`message` is
    what the log keeps, which may say more than the client was told)."""
    name = method.rsplit("/", 1)[-1]
    if code in REFUSALS or name in AUDITED:
        fields = _request_fields(request)
        audit_record(
            AUDITED.get(name, f"api.{name}"),
            outcome=AuditEvent.Outcome.REFUSED if code in REFUSALS else AuditEvent.Outcome.FAILED,
            job_id=fields.pop("job_id", None),
            detail=f"{code.name}: {message}"[:AUDIT_TEXT],
            actor=actor,
            **fields,
        )


def _abort(
    context: grpc.ServicerContext,
    method: str,
    request: Any,
    code: grpc.StatusCode,
    message: str,
    actor: Actor | None,
    recorded: str = "",
) -> NoReturn:
    """End the call with `code` and `message`, recorded (as `recorded` where that says more) as _audit_end says."""
    _audit_end(method, request, code, recorded or message, actor)
    context.abort(code, message)


@contextmanager
def _served(context: grpc.ServicerContext, method: str, request: Any) -> Iterator[None]:
    close_old_connections()
    try:
        token = bearer_token(context.invocation_metadata())
        record = api_token_authenticate(token=token) if token else None
        if record is None:
            message = (
                "invalid, revoked or deactivated API token"
                if token
                else "an API token is required (authorization: Bearer <token>)"
            )
            if unauthenticated_recorded(context.peer()):
                nobody = actor_for(None, via=AuditEvent.Via.GRPC, client=context.peer())
                _abort(context, method, request, grpc.StatusCode.UNAUTHENTICATED, message, nobody)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        user = record.user
        _caller.set(user)
        actor = actor_set(actor_for(user, via=AuditEvent.Via.GRPC, client=context.peer(), credential=record.prefix))
        logger.debug("%s by user %s", method, user.pk)
        try:
            yield
        except ApiError as exc:
            if exc.recorded:
                context.abort(exc.code, exc.message)
            _abort(context, method, request, exc.code, exc.message, actor)
        except ObjectDoesNotExist as exc:
            _abort(context, method, request, grpc.StatusCode.NOT_FOUND, str(exc) or "not found", actor)
        except PermissionDenied as exc:
            _abort(context, method, request, grpc.StatusCode.PERMISSION_DENIED, str(exc) or "permission denied", actor)
        except Exception as exc:  # a fault of the server's: logged and recorded, its text kept from the client
            logger.exception("%s by user %s failed", method, user.pk)
            _abort(
                context, method, request, grpc.StatusCode.UNKNOWN, SERVER_FAULT, actor, f"{type(exc).__name__}: {exc}"
            )
    finally:
        close_old_connections()


def _unary(behavior: Callable, method: str) -> Callable:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        with _served(context, method, request):
            return behavior(request, context)

    return call


def _client_streaming(behavior: Callable, method: str, slots: StreamSlots) -> Callable:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        with _served(context, method, request), slots.held(current_user().pk):
            return behavior(request, context)

    return call


def _streaming(behavior: Callable, method: str, slots: StreamSlots) -> Callable:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _served(context, method, request), slots.held(current_user().pk):
            yield from behavior(request, context)

    return call


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates and audits every call as the module says, and admits streaming calls through `slots`."""

    def __init__(self, slots: StreamSlots) -> None:
        self.slots = slots

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        if handler.unary_unary:
            return handler._replace(unary_unary=_unary(handler.unary_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=_streaming(handler.unary_stream, method, self.slots))
        if handler.stream_unary:
            return handler._replace(stream_unary=_client_streaming(handler.stream_unary, method, self.slots))
        return handler._replace(stream_stream=_streaming(handler.stream_stream, method, self.slots))
