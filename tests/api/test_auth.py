"""Every gRPC call is authenticated and sees what the web app would show its user: no token or a bad one is
UNAUTHENTICATED, another user's job is NOT_FOUND (its existence is not disclosed), an action the user may not take is
PERMISSION_DENIED. The standard health service answers without a token; reflection needs one."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from api.auth import UNAUTHENTICATED_RECORDS_PER_MINUTE, _sender, unauthenticated_recorded
from api.models import ApiToken
from audit.models import AuditEvent
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import jobs_pb2_grpc, workers_pb2_grpc
from imagescanner.v1 import workers_pb2 as wpb
from jobs.models import FileInstance, Job, JobImage
from jobs.services import job_create, job_share
from tests.support.grpc import grpc_serving, rpc_error
from tests.support.jobs import finished, photos

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_no_token_and_bad_tokens_are_unauthenticated(grpc_server, alice, transactional_db):
    anonymous = jobs_pb2_grpc.JobServiceStub(grpc_server.channel())
    error = rpc_error(anonymous.ListJobs, pb.ListJobsRequest())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "token is required" in error.details()
    assert (
        rpc_error(
            workers_pb2_grpc.WorkerServiceStub(grpc_server.channel()).ListWorkers, wpb.ListWorkersRequest()
        ).code()
        == grpc.StatusCode.UNAUTHENTICATED
    )

    forged = alice.token[:-4] + ("AAAA" if not alice.token.endswith("AAAA") else "BBBB")
    for token in (forged, "isk_0000000000_" + "x" * 43, "not-a-token", "Bearer"):
        stub = jobs_pb2_grpc.JobServiceStub(grpc_server.channel(token))
        assert rpc_error(stub.ListJobs, pb.ListJobsRequest()).code() == grpc.StatusCode.UNAUTHENTICATED, token

    assert alice.jobs.ListJobs(pb.ListJobsRequest()).jobs == []
    ApiToken.objects.filter(user=alice.user).delete()  # revoked
    assert rpc_error(alice.jobs.ListJobs, pb.ListJobsRequest()).code() == grpc.StatusCode.UNAUTHENTICATED

    # Every refused call is in the audit log, with nobody as its user and the caller's address.
    refused = AuditEvent.objects.filter(outcome="refused").order_by("id")
    assert [(e.via, e.action, e.user_id) for e in refused] == [("grpc", "api.ListJobs", None)] + [
        ("grpc", "api.ListWorkers", None)
    ] + [("grpc", "api.ListJobs", None)] * 5
    assert [e.detail for e in refused][:2] == [
        "UNAUTHENTICATED: an API token is required (authorization: Bearer <token>)"
    ] * 2
    assert all(e.client.startswith("ipv") for e in refused)
    # What a refused request carried is kept, cut short: a request may be as large as gRPC lets in.
    error = rpc_error(anonymous.CreateJob, pb.CreateJobRequest(name="n" * 5000, source="case"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    attempt = AuditEvent.objects.get(action="job.create")
    assert (attempt.outcome, len(attempt.data["name"]), attempt.data["source"]) == ("refused", 500, "case")


def test_a_deactivated_users_token_is_refused(alice):
    assert alice.jobs.ListJobs(pb.ListJobsRequest()).jobs == []
    alice.user.is_active = False
    alice.user.save()
    assert rpc_error(alice.jobs.ListJobs, pb.ListJobsRequest()).code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_answers_without_a_token_and_reflection_needs_one(grpc_server, alice):
    assert grpc_serving(grpc_server.target, ca=grpc_server.ca)

    def services(channel) -> list[str]:
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]))
        return [s.name for reply in replies for s in reply.list_services_response.service]

    assert rpc_error(services, grpc_server.channel()).code() == grpc.StatusCode.UNAUTHENTICATED
    assert set(services(grpc_server.channel(alice.token))) == {
        "imagescanner.v1.JobService",
        "imagescanner.v1.WorkerService",
        "imagescanner.v1.CaseService",
        "imagescanner.v1.ReviewService",
        "imagescanner.v1.HashSetService",
        "imagescanner.v1.FaceService",
        "imagescanner.v1.PersonService",
        "imagescanner.v1.VerificationService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_the_server_speaks_tls_only(grpc_server, alice):
    """A client that does not trust the server's certificate, or talks plaintext, gets nowhere."""
    from api.client import channel_open

    for channel in (
        channel_open(target=grpc_server.target, token=alice.token, ca=None),  # the system's CAs
        channel_open(target=grpc_server.target, token=alice.token, local=True),  # no TLS
    ):
        error = rpc_error(jobs_pb2_grpc.JobServiceStub(channel).ListJobs, pb.ListJobsRequest(), timeout=5)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()


def test_another_users_job_and_files_are_not_found(grpc_server, alice, bob, workers):
    source = grpc_server.sources_root / "alice-case"
    photos(source, range(3))
    job = job_create(name="alice's", source_path=source, owner=alice.user, stages=["exif"])
    assert alice.jobs.StartScan(pb.StartScanRequest(job_id=job.pk)).result in (
        pb.StartScanResponse.STARTED,
        pb.StartScanResponse.QUEUED,
    )
    assert finished(job).status == Job.Status.COMPLETED
    file_id = FileInstance.objects.filter(job=job).values_list("pk", flat=True).first()
    image_id = JobImage.objects.filter(job=job).values_list("image_id", flat=True).first()

    calls = [
        (bob.jobs.GetJob, pb.GetJobRequest(job_id=job.pk)),
        (bob.jobs.StartScan, pb.StartScanRequest(job_id=job.pk)),
        (bob.jobs.CancelJob, pb.CancelJobRequest(job_id=job.pk)),
        (bob.jobs.DeleteJob, pb.DeleteJobRequest(job_id=job.pk)),
        (bob.jobs.ListImages, pb.ListImagesRequest(job_id=job.pk)),
        (bob.jobs.WatchJobProgress, pb.WatchJobProgressRequest(job_id=job.pk)),
        (bob.jobs.StreamFile, pb.StreamFileRequest(file_id=file_id)),
        (bob.jobs.StreamFile, pb.StreamFileRequest(image_id=image_id)),
        (bob.jobs.StreamFile, pb.StreamFileRequest(image_id=image_id, job_id=job.pk)),
    ]
    for call, request in calls:
        error = rpc_error(call, request)
        assert error.code() == grpc.StatusCode.NOT_FOUND, (call, error.details())
        assert "alice" not in error.details()
    # Each attempt is in the audit log as bob's, refused; alice's scan as hers.
    attempts = AuditEvent.objects.filter(user_id=bob.user.pk).order_by("id")
    assert [(e.action, e.outcome) for e in attempts] == [
        ("api.GetJob", "refused"),
        ("job.start", "refused"),
        ("job.cancel", "refused"),
        ("job.delete", "refused"),
        ("api.ListImages", "refused"),
        ("api.WatchJobProgress", "refused"),
        ("file.stream", "refused"),
        ("file.stream", "refused"),
        ("file.stream", "refused"),
    ]
    assert [e.job_id for e in attempts[:6]] == [job.pk] * 6
    assert [e.data for e in attempts[6:]] == [{"file_id": file_id}, {"image_id": image_id}, {"image_id": image_id}]
    assert AuditEvent.objects.filter(action="job.start", outcome="ok", job_id=job.pk, user_id=alice.user.pk).exists()
    assert bob.jobs.ListJobs(pb.ListJobsRequest()).jobs == []
    assert bob.jobs.ListActiveJobs(pb.ListActiveJobsRequest()).jobs == []
    # The same calls as the owner work (the file streams; the job's own image).
    assert [j.id for j in alice.jobs.ListJobs(pb.ListJobsRequest()).jobs] == [job.pk]
    assert len(list(alice.jobs.StreamFile(pb.StreamFileRequest(file_id=file_id)))) >= 3
    assert Job.objects.filter(pk=job.pk, status=Job.Status.COMPLETED).exists()

    # Shared read-only: bob sees it now, but may not change it.
    job_share(job=job, user=bob.user, role="reviewer")
    assert bob.jobs.GetJob(pb.GetJobRequest(job_id=job.pk)).permissions == ["view"]
    assert len(list(bob.jobs.StreamFile(pb.StreamFileRequest(image_id=image_id)))) >= 3
    for call, request in calls[1:4]:
        assert rpc_error(call, request).code() == grpc.StatusCode.PERMISSION_DENIED
    assert Job.objects.filter(pk=job.pk).exists()


def test_worker_control_is_for_staff(alice, operator):
    error = rpc_error(alice.workers.PauseQueue, wpb.PauseQueueRequest(queue="exif"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    for call, request in (
        (alice.workers.ListWorkers, wpb.ListWorkersRequest()),
        (alice.workers.ResumeQueue, wpb.ResumeQueueRequest(queue="exif")),
        (alice.workers.DrainWorker, wpb.DrainWorkerRequest(worker="all@localhost")),
        (alice.workers.SetConcurrency, wpb.SetConcurrencyRequest(worker="all@localhost", concurrency=3)),
    ):
        assert rpc_error(call, request).code() == grpc.StatusCode.PERMISSION_DENIED
    error = rpc_error(operator.workers.PauseQueue, wpb.PauseQueueRequest(queue="exif; rm -rf /"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_calls_without_a_token_are_recorded_up_to_a_number_a_minute_from_each_address():
    """Anyone who reaches the port can call without a token; the log must not fill up with it."""
    address = f"ipv4:10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    recorded = [unauthenticated_recorded(f"{address}:{port}") for port in range(40000, 40130)]
    # 130 calls in under a minute, or across the turn of one: at most two minutes' worth are recorded, in order.
    assert UNAUTHENTICATED_RECORDS_PER_MINUTE <= sum(recorded) <= 2 * UNAUTHENTICATED_RECORDS_PER_MINUTE < 130
    assert all(recorded[:UNAUTHENTICATED_RECORDS_PER_MINUTE])
    assert unauthenticated_recorded(f"{address}1:40000")  # another address has its own count


def test_calls_without_a_token_count_against_an_ipv4_address_or_an_ipv6_64():
    assert _sender("ipv4:10.0.0.7:51234") == "10.0.0.7"
    assert _sender("ipv6:[2001:db8:1:2::a]:5") == _sender("ipv6:[2001:db8:1:2:ffff::1]:6") == "2001:db8:1:2::/64"
    assert _sender("ipv6:[2001:db8:1:3::a]:5") != _sender("ipv6:[2001:db8:1:2::a]:5")


def test_a_call_without_a_token_is_recorded_when_the_cache_cannot_count(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    assert unauthenticated_recorded("ipv4:10.0.0.8:5")
