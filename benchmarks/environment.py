"""The environment a benchmark's Django runs in, set before Django starts (and inherited by the workers and servers
the benchmark starts): the distributed configuration, on the benchmark's own database and Redis."""

from __future__ import annotations

import os
from pathlib import Path


def distributed_environment(*, database_url: str, broker_url: str, log_level: str = "WARNING", **more: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="scanner.settings.distributed",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "benchmark-only"),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        LOG_LEVEL=log_level,
        **more,
    )


def web_environment(*, database_url: str) -> None:
    """What the web app's benchmarks run Django with: the distributed configuration, Redis database 3 as the
    channel layer and cache, plain HTTP on localhost."""
    distributed_environment(
        database_url=database_url,
        broker_url="redis://127.0.0.1:6379/3",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DJANGO_SECURE_SSL_REDIRECT="false",
        log_level="ERROR",
    )


def results_write(path: Path, lines: list[str]) -> None:
    """Write a benchmark's table (its lines) to `path` under bench-results/, and print it."""
    text = "\n".join(lines)
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    print(text)
