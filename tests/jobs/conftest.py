"""Fixtures for the pipeline tests of the model stages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import WorkerPool
from tests.mlsupport import CLIP_CHECKPOINT, build_models

ML_QUEUES = ("faces", "classify")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """MODELS_ROOT with tiny faces and classify models, built once per session."""
    return build_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def ml_workers(workers, worker_env, tmp_path) -> Iterator[Callable[[Path], str]]:
    """start(models_root) starts a worker for the faces and classify queues that reads its models from
    models_root (with the tiny classify model configured). Meanwhile the session's other workers stop consuming
    those queues (Celery remote control), so every stage task of the test reaches this worker."""
    from scanner.celery import app

    others = list(workers.processes)
    for queue in ML_QUEUES:
        app.control.cancel_consumer(queue, destination=others, reply=True)
    pool = WorkerPool(worker_env, tmp_path)

    def start(models_root: Path) -> str:
        pool.env = {
            **worker_env,
            "MODELS_ROOT": str(models_root),
            "CLASSIFY_MODEL": "tiny",
            "CLASSIFY_CHECKPOINT": CLIP_CHECKPOINT,
            "CLASSIFY_MIN_SCORE": "0",
        }
        return pool.start("ml", queues=",".join(ML_QUEUES), concurrency=1)

    yield start
    pool.stop_all()
    for queue in ML_QUEUES:
        app.control.add_consumer(queue, destination=others, reply=True)
