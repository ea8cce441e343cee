"""Over gRPC, as on the web: ListSources offers a caller the sources of the cases they lead or examine in (staff
every one), and CreateJob refuses any other as it refuses a source that does not exist, on the record."""

from __future__ import annotations

import grpc
import pytest

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, case_source_assign
from imagescanner.v1 import jobs_pb2 as pb
from jobs.access import JobAction, job_permissions
from jobs.models import Job
from tests.support.grpc import rpc_error

pytestmark = pytest.mark.integration


def test_a_reviewer_is_neither_offered_the_cases_sources_nor_may_scan_them(grpc_server, client_as):
    lead, examiner, reviewer = (client_as(f"{n}@example.org") for n in ("alice", "bob", "carol"))
    outsider, staff = client_as("dave@example.org"), client_as("erin@example.org", staff=True)
    for name in ("grpc-phone", "grpc-laptop"):
        (grpc_server.sources_root / name).mkdir(exist_ok=True)
    first = case_create(reference="2024-017", title="Op. First", owner=lead.user)
    case_member_set(case=first, user=examiner.user, role="examiner")
    case_member_set(case=first, user=reviewer.user, role="reviewer")
    case_source_assign(case=first, name="grpc-phone", by=staff.user)
    second = case_create(reference="2024-018", title="Op. Second", owner=outsider.user)
    case_source_assign(case=second, name="grpc-laptop", by=staff.user)

    def sources(client) -> set[str]:
        return {s for s in client.jobs.ListSources(pb.ListSourcesRequest()).sources if s.startswith("grpc-")}

    assert sources(lead) == sources(examiner) == {"grpc-phone"}
    assert sources(outsider) == {"grpc-laptop"}
    assert sources(reviewer) == set()
    assert sources(staff) == {"grpc-phone", "grpc-laptop"}

    # Refused in the words of a source that does not exist: whether it does is not disclosed.
    for client, source in [(reviewer, "grpc-phone"), (reviewer, "grpc-none"), (examiner, "grpc-laptop")]:
        error = rpc_error(client.jobs.CreateJob, pb.CreateJobRequest(source=source, stages=["exif"]))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == f"no source {source!r}: choose one of the sources listed"
    assert not Job.objects.exists()
    refused = AuditEvent.objects.filter(action="job.create", outcome=AuditEvent.Outcome.REFUSED).order_by("id")
    assert [(e.user_id, e.data["source"]) for e in refused] == [
        (reviewer.user.pk, "grpc-phone"),
        (reviewer.user.pk, "grpc-none"),
        (examiner.user.pk, "grpc-laptop"),
    ]

    # A job on a case's evidence stays in that case: its maker keeps the rights they have there (an examiner's),
    # where a case of its own would make them its lead, free to download and share what they only examine.
    job = examiner.jobs.CreateJob(pb.CreateJobRequest(source="grpc-phone", stages=["exif"], exhibit="EX-1"))
    made = Job.objects.get(pk=job.id)
    assert (made.case, made.exhibit) == (first, "EX-1")
    assert job_permissions(job=made, user=examiner.user) == {JobAction.VIEW, JobAction.CHANGE}
    # The case by reference: one the caller may not see is not found; a source in several cases needs it.
    hidden = pb.CreateJobRequest(source="grpc-phone", stages=["exif"], case="2024-018")
    assert rpc_error(examiner.jobs.CreateJob, hidden).code() == grpc.StatusCode.NOT_FOUND
    third = case_create(reference="2024-019", title="Op. Third", owner=lead.user)
    case_member_set(case=third, user=examiner.user, role="examiner")
    case_source_assign(case=third, name="grpc-phone", by=staff.user)
    error = rpc_error(examiner.jobs.CreateJob, pb.CreateJobRequest(source="grpc-phone", stages=["exif"]))
    assert error.details() == "source 'grpc-phone' is in several of your cases: name the case"
    named = examiner.jobs.CreateJob(pb.CreateJobRequest(source="grpc-phone", stages=["exif"], case="2024-019"))
    assert Job.objects.get(pk=named.id).case == third
    assert staff.jobs.CreateJob(pb.CreateJobRequest(source="grpc-laptop", stages=["exif"])).source == "grpc-laptop"
