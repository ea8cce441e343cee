"""Where the suite runs: the repository, the Redis databases and the database role it may use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Redis databases some tests use for a broker of their own (beside the session's): three, from the environment so
# that parallel checkouts on one machine keep apart.
SPARE_REDIS_DBS = [int(n) for n in os.environ.get("TEST_SPARE_REDIS_DBS", "3,4,5").split(",")]
# The password of the app's least-privilege role in the suite (settings.DATABASE_APP_ROLE): it has rights in test
# databases only.
APP_ROLE_PASSWORD = "scanner-app-test-only"


def app_role_url(settings_dict: dict) -> str:
    """The URL of the database of `settings_dict` for the app's own role, as the app's processes connect."""
    from django.conf import settings

    host, port, name = settings_dict["HOST"], settings_dict["PORT"], settings_dict["NAME"]
    return f"postgres://{settings.DATABASE_APP_ROLE}:{APP_ROLE_PASSWORD}@{host}:{port}/{name}"


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
