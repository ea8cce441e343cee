"""A job that waits for a queue no worker consumes says so, naming the stage and the queue: on the job page, in
`manage.py scan` (from its start) and in GetJob; once a worker consumes the queue, it no longer does."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.urls import reverse

from imagescanner.v1 import jobs_pb2 as pb
from jobs.models import Job
from jobs.samples import write_photo
from scanner.celery import app
from tests.support.environment import REPO
from tests.support.processes import child_process
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

FACES = "faces waits: no worker consumes the faces queue"
PROBE = "probe waits: no worker consumes the probe queue"


def test_a_stage_whose_queue_no_worker_consumes_is_named(
    alice, workers, spawn, evidence_dir, client, settings, tmp_path
):
    settings.QUEUE_CHECK_SECONDS = 0  # this process asks the broker every time; the servers keep their default
    for seed in range(6):
        write_photo(evidence_dir / f"img_{seed}.jpg", width=32, height=24, seed=seed)
    client.force_login(alice.user)
    # The session's workers consume jobs, exif, faces, classify and pdq: from now on, not faces. Nobody consumes probe.
    session_workers = list(workers.processes)
    app.control.cancel_consumer("faces", destination=session_workers, reply=True)
    log = tmp_path / "scan.log"
    try:
        with open(log, "wb") as out:
            cli = child_process(
                [sys.executable, "manage.py", "scan", str(evidence_dir), "--stages", "exif,faces,probe",
                 "--owner", alice.user.username, "--name", "waits"],
                env=workers.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(lambda: f"waiting: {FACES}" in log.read_text(), message="scan to warn of the faces queue")
        assert f"waiting: {PROBE}" in log.read_text()
        job = Job.objects.get(name="waits")

        def waiting() -> list[str]:
            return list(alice.jobs.GetJob(pb.GetJobRequest(job_id=job.pk)).waiting)

        def page() -> str:
            return client.get(reverse("jobs:detail", args=[job.pk])).content.decode()

        wait_for(lambda: waiting() == [FACES, PROBE], message="GetJob to name both queues")
        assert FACES in page()
        assert PROBE in page()

        spawn("faces", queues="faces", concurrency=1)
        wait_for(lambda: waiting() == [PROBE], message="GetJob to see the faces queue consumed")
        assert FACES not in page()
        assert PROBE in page()
        wait_for(lambda: f"no longer waiting: {FACES}" in log.read_text(), message="scan to see faces consumed")
        job.refresh_from_db()
        assert job.status == Job.Status.EXTRACTING

        spawn("probe", queues="probe", concurrency=1)
        cli.wait(timeout=120)
    finally:
        app.control.add_consumer("faces", destination=session_workers, reply=True)
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, log.read_text()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    assert list(alice.jobs.GetJob(pb.GetJobRequest(job_id=job.pk)).waiting) == []
