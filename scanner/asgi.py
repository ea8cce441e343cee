"""ASGI entry point (daphne). DJANGO_SETTINGS_MODULE must be set: the server never guesses its configuration."""

import os

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise RuntimeError("DJANGO_SETTINGS_MODULE is not set: name the configuration explicitly (see README)")

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
