"""The origin check of every WebSocket handshake: a socket carries the user's session cookie, so only a page of this
site (or of an origin named in CSRF_TRUSTED_ORIGINS) may open one.

Channels' AllowedHostsOriginValidator compares host names only: a page on another port of the same host (any local
web server, http://127.0.0.1:9999) passed it. Here the Origin's scheme, host and port must equal those of the
server the browser reached, the same rule as Django's CSRF origin check.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _page_scheme(scope) -> str:
    """The scheme of the page the socket belongs to: https behind a TLS-terminating proxy that says so in
    SECURE_PROXY_SSL_HEADER (as for Django's request.is_secure()), else that of the socket itself."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        forwarded = _header(scope, header.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if forwarded is not None:
            return "https" if forwarded.split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") == "wss" else "http"


def _normalised(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    domain, port = split_domain_port(netloc.lower())
    if not domain or scheme not in DEFAULT_PORTS:
        return None
    try:
        return scheme, domain, int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None


def origin_allowed(scope) -> bool:
    """True when the handshake's Origin is the origin of the server it reached (scheme, host and port; the Host
    header must be one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS (where "*." matches subdomains). A
    handshake without an Origin, or without a Host, is refused: browsers always send both."""
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host:
        return False
    parsed = urlsplit(origin)
    if parsed.path or parsed.query or parsed.fragment or parsed.username or parsed.password:
        return False
    claimed = _normalised(parsed.scheme, parsed.netloc)
    if claimed is None:
        return False
    allowed_hosts = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    own_host = validate_host(split_domain_port(host.lower())[0], allowed_hosts)
    if own_host and claimed == _normalised(_page_scheme(scope), host):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        pattern = urlsplit(trusted)
        if pattern.netloc.startswith("*"):
            if pattern.scheme == parsed.scheme and is_same_domain(parsed.netloc.lower(), pattern.netloc[1:].lower()):
                return True
        elif claimed == _normalised(pattern.scheme, pattern.netloc):
            return True
    return False


class SameOriginValidator:
    """ASGI middleware: the handshake goes on to `application` only when `origin_allowed`; else it is refused."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
