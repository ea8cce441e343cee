"""Embedded configuration: one process, no servers. SQLite under ./var, the Celery canvas run in-process
(eager), an in-memory channel layer. This is what `manage.py` uses when DJANGO_SETTINGS_MODULE is not set."""

import os
import secrets

from scanner.settings.base import *  # noqa: F403
from scanner.settings.base import VAR_DIR, env

VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A per-installation key kept in ./var (never in the tree) unless DJANGO_SECRET_KEY is set."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'scanner.sqlite3'}")}
# The stage thread (jobs.pipeline.inprocess) keeps its connection from batch to batch for this long.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the CLI read progress while the scan writes; IMMEDIATE avoids lock upgrades mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

# Discovery and the stages share this one process: the probes (reading, hashing, typing) run in worker processes,
# one per CPU this process may use.
SCAN_PROBE_PROCESSES = env.int("SCAN_PROBE_PROCESSES", default=len(os.sched_getaffinity(0)))

# Eager mode is for this configuration only: the same canvas, run inline. Tests of the pipeline use real workers.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://localhost/"
CELERY_RESULT_BACKEND = "cache+memory://"
