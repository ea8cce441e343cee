"""Starting a job from its web page and with StartScan: one set of rules (jobs.lifecycle.StartOutcome) gives the same
outcome for the same job; each adapter only words it (a message on the page, a result or a status code)."""

from __future__ import annotations

import shutil

import grpc
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEvent
from imagescanner.v1 import jobs_pb2 as pb
from jobs.models import Job
from jobs.services import job_create

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def web_start(client, job: Job) -> list[str]:
    """Press the job page's Start button: the messages it leaves on the job page it goes back to."""
    response = client.post(reverse("jobs:start", args=[job.pk]))
    assert (response.status_code, response.url) == (302, reverse("jobs:detail", args=[job.pk]))
    return [str(m) for m in get_messages(response.wsgi_request)]


def started(job: Job) -> list[str]:
    """The outcomes of the job's job.start audit records."""
    return list(AuditEvent.objects.filter(job_id=job.pk, action="job.start").values_list("outcome", flat=True))


@pytest.mark.parametrize(
    ("status", "page", "result", "message"),
    [
        ("gone", "The job cannot start: its source folder is missing or not a folder.",
         pb.StartScanResponse.SOURCE_MISSING, "the job's source folder is missing or not a folder"),
        (Job.Status.QUEUED, "The job cannot start: it is queued.", pb.StartScanResponse.ALREADY_RUNNING,
         "job is queued"),
        (Job.Status.EXTRACTING, "The job cannot start: it is extracting.", pb.StartScanResponse.ALREADY_RUNNING,
         "job is extracting"),
    ],
)  # fmt: skip
def test_the_web_and_the_api_refuse_the_same_start_alike(grpc_server, alice, client, status, page, result, message):
    folder = grpc_server.sources_root / f"start-{status}"
    folder.mkdir()
    job = job_create(name="case", source_path=folder, owner=alice.user, stages=[], within=grpc_server.sources_root)
    if status == "gone":
        shutil.rmtree(folder)
        status = Job.Status.CREATED
    else:
        Job.objects.filter(pk=job.pk).update(status=status)
    client.force_login(alice.user)

    assert web_start(client, job) == [page]
    reply = alice.jobs.StartScan(pb.StartScanRequest(job_id=job.pk))
    assert (reply.result, reply.message) == (result, message)
    assert Job.objects.get(pk=job.pk).status == status
    assert started(job) == []


@pytest.mark.parametrize("status", Job.FINAL)
def test_the_web_and_the_api_refuse_to_start_an_ended_job(grpc_server, alice, client, status):
    folder = grpc_server.sources_root / f"ended-{status}"
    folder.mkdir()
    job = job_create(name="case", source_path=folder, owner=alice.user, stages=[], within=grpc_server.sources_root)
    Job.objects.filter(pk=job.pk).update(status=status)
    client.force_login(alice.user)

    assert web_start(client, job) == [f"The job cannot start: it is {status}."]
    with pytest.raises(grpc.RpcError) as refused:
        alice.jobs.StartScan(pb.StartScanRequest(job_id=job.pk))
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"job {job.pk} has ended ({status}); RerunJob scans its source again as a new job",
    )
    assert Job.objects.get(pk=job.pk).status == status
    assert started(job) == [AuditEvent.Outcome.FAILED]  # the API records each call it refuses with an error
