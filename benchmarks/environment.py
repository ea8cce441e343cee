"""The environment a benchmark's Django runs in, set before Django starts (and inherited by the workers and servers
the benchmark starts): the distributed configuration, on the benchmark's own database and Redis."""

from __future__ import annotations

import os


def distributed_environment(*, database_url: str, broker_url: str, log_level: str = "WARNING", **more: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="scanner.settings.distributed",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "benchmark-only"),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        LOG_LEVEL=log_level,
        **more,
    )
