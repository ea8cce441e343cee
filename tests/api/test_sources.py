"""Over gRPC, as on the web: ListSources offers a caller the sources of the cases they lead or examine in (staff
every one), and CreateJob refuses any other as it refuses a source that does not exist, on the record."""

from __future__ import annotations

import grpc
import pytest

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, case_source_assign
from imagescanner.v1 import jobs_pb2 as pb
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

    job = examiner.jobs.CreateJob(pb.CreateJobRequest(source="grpc-phone", stages=["exif"]))
    assert Job.objects.get(pk=job.id).case.reference == f"job-{job.id}"  # over gRPC, a case of its own
    assert staff.jobs.CreateJob(pb.CreateJobRequest(source="grpc-laptop", stages=["exif"])).source == "grpc-laptop"
