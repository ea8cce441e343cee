"""Malformed and hostile input to JobService is refused as the client's fault (INVALID_ARGUMENT, NOT_FOUND,
PERMISSION_DENIED) and recorded like every refusal; it never fails the server (UNKNOWN, INTERNAL). Property tests
throw arbitrary text and integers at every field a client controls."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from imagescanner.v1 import jobs_pb2 as pb
from jobs.models import Job
from tests.support.grpc import rpc_error
from tests.support.jobs import photos
from tests.support.sources import sources_assigned

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REFUSED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    # The fixtures (server, users, one job) are the same for every example; each example only reads or is refused.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text a protobuf string can carry (valid UTF-8: no lone surrogates), NUL and every other character included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@pytest.fixture
def job(grpc_server, alice) -> pb.Job:
    photos(grpc_server.sources_root / "fuzz", range(1))
    sources_assigned(alice.user, "fuzz")
    return alice.jobs.CreateJob(pb.CreateJobRequest(source="fuzz"))


def _answered(call, request) -> grpc.StatusCode:
    """The code `call` ends with; fails the test on any code but OK and the refusals."""
    code, details = grpc.StatusCode.OK, ""
    try:
        result = call(request, timeout=30)
        if not hasattr(result, "ListFields"):  # a stream
            list(result)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
    assert code in {grpc.StatusCode.OK, *REFUSED}, (request, code, details)
    return code


@FUZZ
@given(job_id=int64, file_id=int64, image_id=int64, chunk=int32)
@example(job_id=2**63 - 1, file_id=-(2**63), image_id=0, chunk=-1)
def test_ids_are_found_or_not(alice, job, job_id, file_id, image_id, chunk):
    if job_id == job.id:
        job_id += 1  # the fixture's job is watched and deleted nowhere: its stream would never end
    for call, request in (
        (alice.jobs.GetJob, pb.GetJobRequest(job_id=job_id)),
        (alice.jobs.CancelJob, pb.CancelJobRequest(job_id=job_id)),
        (alice.jobs.DeleteJob, pb.DeleteJobRequest(job_id=job_id)),
        (alice.jobs.StartScan, pb.StartScanRequest(job_id=job_id)),
        (alice.jobs.RerunJob, pb.RerunJobRequest(job_id=job_id)),
        (alice.jobs.WatchJobProgress, pb.WatchJobProgressRequest(job_id=job_id)),
        (alice.jobs.StreamFile, pb.StreamFileRequest(file_id=file_id, job_id=job_id, chunk_size=chunk)),
        (alice.jobs.StreamFile, pb.StreamFileRequest(image_id=image_id, chunk_size=chunk)),
    ):
        assert _answered(call, request) in REFUSED
    assert Job.objects.filter(pk=job.id, status=Job.Status.CREATED).exists()


@FUZZ
@given(
    size=int32,
    token=text,
    order=int32,
    filters=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(("tag", "mime", "camera_make", "camera_model", "taken_from", "taken_to"), text)
        | dict.fromkeys(("gps", "faces", "stage_errors", "duplicates"), st.booleans()),
    ),
)
@example(size=0, token="", order=0, filters={"camera_make": "Canon\x00"})
@example(size=0, token="", order=0, filters={"tag": "\x00"})
@example(size=0, token="", order=3, filters={"taken_to": "9999-12-31"})
def test_listings_take_any_page_token_order_and_filter(alice, job, size, token, order, filters):
    _answered(alice.jobs.ListJobs, pb.ListJobsRequest(page_size=size, page_token=token, order=order))
    request = pb.ListImagesRequest(
        job_id=job.id, page_size=size, page_token=token, order=order, filter=pb.ImageFilter(**filters)
    )
    _answered(alice.jobs.ListImages, request)


@FUZZ
@given(name=text, description=text, source=text, stages=st.lists(text, max_size=3))
@example(name="x\x00", description="", source="fuzz", stages=[])
@example(name="", description="", source=".", stages=[])
def test_create_job_takes_any_text(alice, job, name, description, source, stages):
    request = pb.CreateJobRequest(name=name, description=description, source=source, stages=stages)
    if _answered(alice.jobs.CreateJob, request) == grpc.StatusCode.OK:
        assert source.strip() == "fuzz"


def test_malformed_input_is_refused_and_recorded(alice, job):
    error = rpc_error(alice.jobs.ListImages, pb.ListImagesRequest(job_id=job.id, filter=pb.ImageFilter(tag="a\x00")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(alice.jobs.CreateJob, pb.CreateJobRequest(name="a\x00", source="fuzz"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    refused = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED, user_id=alice.user.pk)
    assert set(refused.values_list("action", "job_id")) == {("api.ListImages", job.id), ("job.create", None)}
    assert all(e.detail.startswith("INVALID_ARGUMENT: ") for e in refused)
