"""Authentication of every gRPC call, and the mapping of the project's errors to gRPC status codes.

The interceptor wraps each method handler (the standard health service excepted: load balancers probe it without
credentials, and it tells nothing). The wrapper runs in the server's thread pool, where the database may be used:
it reads `authorization: Bearer <token>` from the metadata, rejects a missing, unknown or revoked token, or one of
a deactivated user, with UNAUTHENTICATED, and makes the user available to the servicer as `current_user()`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import close_old_connections

from api.services import api_token_authenticate

logger = logging.getLogger(__name__)

# Services whose calls need no token.
OPEN_SERVICES = ("/grpc.health.v1.Health/",)

# The caller of the RPC this thread is serving. A sync gRPC server serves each call, streams included, from one
# pool thread from start to end, and every authenticated call sets this before the servicer runs.
_caller: contextvars.ContextVar[AbstractBaseUser] = contextvars.ContextVar("api_caller")


class ApiError(Exception):
    """An error the client should see, with its status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


@contextmanager
def _served(context: grpc.ServicerContext, method: str) -> Iterator[None]:
    close_old_connections()
    try:
        token = bearer_token(context.invocation_metadata())
        if not token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "an API token is required (authorization: Bearer <token>)")
        user = api_token_authenticate(token=token)
        if user is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid, revoked or deactivated API token")
        _caller.set(user)
        logger.debug("%s by user %s", method, user.pk)
        try:
            yield
        except ApiError as exc:
            context.abort(exc.code, exc.message)
        except ObjectDoesNotExist as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc) or "not found")
        except PermissionDenied as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc) or "permission denied")
    finally:
        close_old_connections()


def _unary(behavior: Callable, method: str) -> Callable:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        with _served(context, method):
            return behavior(request, context)

    return call


def _streaming(behavior: Callable, method: str) -> Callable:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _served(context, method):
            yield from behavior(request, context)

    return call


class AuthInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        if handler.unary_unary:
            return handler._replace(unary_unary=_unary(handler.unary_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=_streaming(handler.unary_stream, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=_unary(handler.stream_unary, method))
        return handler._replace(stream_stream=_streaming(handler.stream_stream, method))
