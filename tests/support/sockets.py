"""Live progress sockets as a signed-in browser opens them, over the real ASGI application."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator
from django.conf import settings

from scanner.asgi import application
from tests.support.web import session_key


def headers_for(user, *, origin: bytes = b"http://localhost", host: bytes = b"localhost") -> list[tuple[bytes, bytes]]:
    """What a signed-in browser sends with its handshake: the page's origin, the server's host and the session
    cookie; by default those of a page of this site."""
    headers = [(b"origin", origin), (b"host", host)]
    if user is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key(user)}".encode()))
    return headers


async def connect(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    return communicator, connected
