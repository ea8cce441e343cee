"""Where the suite runs: the repository, the Redis databases and the database role it may use, and the environment
of a process in the embedded configuration."""

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
# What `make demo` takes away (Makefile: EMBEDDED), and what the test settings put into this process's environment.
NOT_EMBEDDED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL",
                "DJANGO_SECRET_KEY")  # fmt: skip


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


def embedded_env(var_dir: Path) -> dict[str, str]:
    """This process's environment as `make demo` leaves it, with SCANNER_VAR_DIR at `var_dir`."""
    env = {key: value for key, value in os.environ.items() if key not in NOT_EMBEDDED}
    return {**env, "SCANNER_VAR_DIR": str(var_dir)}
