"""Over gRPC, as over the web, access goes through the job's case: the lead may do everything, an examiner view and
change (start, cancel, rerun), a reviewer only view (PERMISSION_DENIED for the rest); anyone else gets NOT_FOUND, as
for a job that does not exist; staff see every job."""

from __future__ import annotations

import grpc
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.jobs_servicer import job_message
from api.selectors import job_page_for_user
from cases.services import case_create, case_member_set
from imagescanner.v1 import jobs_pb2 as pb
from jobs.access import job_list_for_user
from jobs.models import Job
from jobs.services import job_create
from tests.support.grpc import rpc_error
from tests.support.jobs import finished, photos

pytestmark = pytest.mark.integration


def test_each_role_of_the_case_over_grpc(grpc_server, client_as, workers):
    lead, examiner, reviewer = (client_as(f"{n}@example.org") for n in ("alice", "bob", "carol"))
    outsider, staff = client_as("dave@example.org"), client_as("erin@example.org", staff=True)
    source = grpc_server.sources_root / "phone"
    photos(source, range(2))
    job = job_create(name="phone", source_path=source, owner=lead.user, stages=["exif"])
    case_member_set(case=job.case, user=examiner.user, role="examiner")
    case_member_set(case=job.case, user=reviewer.user, role="reviewer")
    lead.jobs.StartScan(pb.StartScanRequest(job_id=job.pk))
    assert finished(job).status == Job.Status.COMPLETED

    def permissions(client) -> list[str]:
        return list(client.jobs.GetJob(pb.GetJobRequest(job_id=job.pk)).permissions)

    assert permissions(lead) == permissions(staff) == ["change", "delete", "share", "view"]
    assert permissions(examiner) == ["change", "view"]
    assert permissions(reviewer) == ["view"]
    for client in (lead, examiner, reviewer, staff):
        assert job.pk in [j.id for j in client.jobs.ListJobs(pb.ListJobsRequest()).jobs]
    assert outsider.jobs.ListJobs(pb.ListJobsRequest()).jobs == []
    for call, request in [
        (outsider.jobs.GetJob, pb.GetJobRequest(job_id=job.pk)),
        (outsider.jobs.RerunJob, pb.RerunJobRequest(job_id=job.pk)),
        (outsider.jobs.DeleteJob, pb.DeleteJobRequest(job_id=job.pk)),
        (outsider.jobs.ListImages, pb.ListImagesRequest(job_id=job.pk)),
    ]:
        assert rpc_error(call, request).code() == grpc.StatusCode.NOT_FOUND, call

    for call, request in [
        (reviewer.jobs.CancelJob, pb.CancelJobRequest(job_id=job.pk)),
        (reviewer.jobs.RerunJob, pb.RerunJobRequest(job_id=job.pk)),
        (reviewer.jobs.DeleteJob, pb.DeleteJobRequest(job_id=job.pk)),
        (examiner.jobs.DeleteJob, pb.DeleteJobRequest(job_id=job.pk)),
    ]:
        assert rpc_error(call, request).code() == grpc.StatusCode.PERMISSION_DENIED, call
    assert len(reviewer.jobs.ListImages(pb.ListImagesRequest(job_id=job.pk)).images) == 2

    # The examiner scans again: the rerun is in the same case, so every member sees it; the lead deletes it.
    rerun = examiner.jobs.RerunJob(pb.RerunJobRequest(job_id=job.pk))
    assert Job.objects.get(pk=rerun.id).case_id == job.case_id
    assert reviewer.jobs.GetJob(pb.GetJobRequest(job_id=rerun.id)).permissions == ["view"]
    assert finished(Job.objects.get(pk=rerun.id)).status == Job.Status.COMPLETED
    lead.jobs.DeleteJob(pb.DeleteJobRequest(job_id=rerun.id))
    assert not Job.objects.filter(pk=rerun.id).exists()


@pytest.mark.django_db
def test_a_list_of_jobs_asks_for_the_roles_once_whatever_its_length(tmp_path):
    users = get_user_model().objects
    alice = users.create_user(username="alice", email="alice@example.org")
    bob = users.create_user(username="bob", email="bob@example.org")
    case = case_create(reference="2024-017", title="Op. Example", owner=alice)
    case_member_set(case=case, user=bob, role="reviewer")

    def listed(count: int) -> tuple[int, list[list[str]]]:
        while Job.objects.count() < count:  # half in the lab's case, half in cases of their own
            owner, in_case = (alice, case) if Job.objects.count() % 2 else (bob, None)
            job_create(name="phone", source_path=tmp_path, owner=owner, stages=[], case=in_case)
        with CaptureQueriesContext(connection) as queries:  # as ListJobs and ListActiveJobs build their answers
            page = job_page_for_user(user=bob, order="newest", after=None, limit=50).jobs
            permissions = [list(job_message(job, bob).permissions) for job in page]
            active = job_list_for_user(user=bob).prefetch_related("stage_progress")
            permissions += [list(job_message(job, bob).permissions) for job in active]
        return len(queries), permissions

    few, _ = listed(2)
    many, seen = listed(8)
    assert many == few
    assert sorted(map(tuple, seen)) == sorted([("change", "delete", "share", "view")] * 8 + [("view",)] * 8)
