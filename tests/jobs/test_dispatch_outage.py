"""A worker dispatching a batch while Redis, which keeps the results, goes away: dispatching never depends on the
result consumer's pub/sub connection, whose reconnect gives up with a bare RuntimeError (the long outage itself is
tests/jobs/test_broker_outage.py)."""

from __future__ import annotations

import pytest
from celery import current_app
from celery.backends.asynchronous import E_RETRY_LIMIT_EXCEEDED
from celery.backends.redis import ResultConsumer

from jobs import canvas
from jobs.models import ScanBatch
from jobs.pipeline.scanning import dispatch_batch
from jobs.services import job_create


@pytest.fixture
def in_a_worker(monkeypatch):
    """This process as Celery marks a worker's: a task here never waits on a result."""
    monkeypatch.setattr("celery._state._task_join_will_block", True)


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The names of the tasks this process publishes; they go nowhere."""
    names: list[str] = []
    monkeypatch.setattr(
        current_app.amqp, "send_task_message", lambda producer, name, *args, **kwargs: names.append(name)
    )
    return names


def test_a_worker_dispatches_a_batch_without_subscribing_to_its_results(
    db, evidence_dir, in_a_worker, sent, monkeypatch
):
    def result_store_gone(self, task_id: str) -> None:
        # What Celery's result consumer raises when Redis stays away past its reconnect budget.
        raise RuntimeError(E_RETRY_LIMIT_EXCEEDED)

    monkeypatch.setattr(ResultConsumer, "consume_from", result_store_gone)
    job = job_create(name="dispatch", source_path=evidence_dir, stages=["exif"])
    batch = ScanBatch.objects.create(job=job, seq=0, work={"exif": [1], "probe": [1]})

    dispatch_batch(job.pk, batch)

    assert sent == [canvas.STAGE_TASK, canvas.STAGE_TASK]
    assert ScanBatch.objects.get(pk=batch.pk).dispatched_at is not None
