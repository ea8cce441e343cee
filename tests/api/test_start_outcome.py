"""Starting a job from its web page and with StartScan: one set of rules (jobs.lifecycle.StartOutcome) gives the same
outcome for the same job; each adapter only words it (a message on the page, a result or a status code)."""

from __future__ import annotations

import io
import shutil

import grpc
import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from api import auth, jobs_servicer
from api.errors import ApiError
from audit.models import AuditEvent
from imagescanner.v1 import jobs_pb2 as pb
from jobs import views
from jobs.management.commands import scan
from jobs.models import Job
from jobs.services import job_create
from tests.support.sources import sources_assigned

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


@pytest.fixture
def vanishing(mocker):
    """job_create as the adapters call it, after which the source folder goes away (an unmounted share): the race
    between checking a folder and starting its job."""

    def patch(module) -> None:
        def create(**kwargs) -> Job:
            job = job_create(**kwargs)
            shutil.rmtree(job.source_path)
            return job

        mocker.patch.object(module, "job_create", side_effect=create, autospec=True)

    return patch


def test_a_source_gone_between_creating_and_starting_its_job_is_said_by_every_adapter(
    grpc_server, alice, client, vanishing, settings
):
    settings.SOURCES_ROOT = grpc_server.sources_root  # the web form's, as the API server's
    for module in (views, jobs_servicer, scan):
        vanishing(module)
    for name in ("web", "api", "cli"):
        (grpc_server.sources_root / name).mkdir()
    sources_assigned(alice.user, "web", "api", "cli")
    client.force_login(alice.user)

    response = client.post(reverse("jobs:new"), {"name": "web", "source": "web", "stages": ["exif"], "start": "1"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Job “web” created.",
        "The job cannot start: its source folder is missing or not a folder.",
    ]
    # The API's adapter in this process (the race cannot be staged inside the server's), as the server calls it.
    caller = auth._caller.set(alice.user)
    try:
        with pytest.raises(ApiError) as refused:
            jobs_servicer.JobServicer().CreateJob(
                pb.CreateJobRequest(name="api", source="api", stages=["exif"], start=True), context=None
            )
    finally:
        auth._caller.reset(caller)
    api_job = Job.objects.get(name="api")
    assert (refused.value.code, refused.value.message) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"job {api_job.pk} was created, but its source folder is missing",
    )
    with pytest.raises(CommandError, match=r"^job \d+ cannot start: source missing$"):  # not a wait for ever
        call_command(
            "scan", str(grpc_server.sources_root / "cli"), "--owner", alice.user.username, stdout=io.StringIO()
        )

    assert set(Job.objects.values_list("name", "status")) == {(n, Job.Status.CREATED) for n in ("web", "api", "cli")}
    assert not AuditEvent.objects.filter(action="job.start").exists()
