"""ASGI entry point (daphne): Django's views over HTTP, live progress over WebSocket. DJANGO_SETTINGS_MODULE must be
set: the server never guesses its configuration."""

import os

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise RuntimeError("DJANGO_SETTINGS_MODULE is not set: name the configuration explicitly (see README)")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from jobs.urls import websocket_urlpatterns  # noqa: E402 - the consumers need the apps loaded above
from scanner.websocket import SameOriginValidator  # noqa: E402 - reads settings, so after the setup above

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session authentication; a page of another origin (another port included) cannot open a socket with the
        # user's cookies.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
