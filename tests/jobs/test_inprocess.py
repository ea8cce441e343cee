"""The embedded configuration's stage thread (jobs.pipeline.inprocess): batches run in the order they were handed
over, and a batch that crashes ends its job with the reason instead of vanishing with the thread."""

from __future__ import annotations

import threading

from celery import chord, signature

from jobs.pipeline import inprocess


def test_a_crashed_batch_is_reported_with_its_job_and_the_reason():
    reported: list[tuple[int, str]] = []
    done = threading.Event()

    def on_crash(job_id: int, error: str) -> None:
        reported.append((job_id, error))
        done.set()

    missing = signature("tests.no_such_task", immutable=True)
    inprocess.submit(7, chord([missing], missing), on_crash=on_crash)
    assert done.wait(timeout=30)
    ((job_id, error),) = reported
    assert job_id == 7
    assert error.startswith("a stage batch crashed: NotRegistered")
