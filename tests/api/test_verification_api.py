"""VerificationService over a real gRPC server: a member starts a run (queued, audited) and reads its counts and the
entries not verified, a page at a time; a stranger is NOT_FOUND for the job and for the run, on the record."""

from __future__ import annotations

import grpc
import pytest

from audit.models import AuditEvent
from imagescanner.v1 import verification_pb2 as pb
from jobs.models import Job
from tests.support.verification import scanned_job
from tests.support.waiting import wait_for
from verification.models import VerificationRun
from verification.services import verification_execute


def _finished(run_id: int) -> None:
    """Carry the run out here (no worker in this test); where a session's worker took it first, wait for it."""
    if verification_execute(run_id=run_id) is None:
        wait_for(lambda: VerificationRun.objects.get(pk=run_id).status in VerificationRun.FINAL, message="the run")


def test_a_member_starts_a_run_and_reads_what_changed_a_page_at_a_time(alice, evidence_dir):
    job = scanned_job(evidence_dir, owner=alice.user)
    for name in ("a.txt", "b.txt", "c.txt"):
        (evidence_dir / name).write_bytes(b"added")
    started = alice.verification.StartVerification(pb.StartVerificationRequest(job_id=job.pk))
    assert (started.status, started.job_id, started.via, started.started_by) == (
        pb.VERIFICATION_STATUS_QUEUED, job.pk, "grpc", "alice@example.org")  # fmt: skip
    assert AuditEvent.objects.filter(action="verify.start", via="grpc", job_id=job.pk, outcome="ok").exists()
    _finished(started.id)

    first = alice.verification.GetVerification(pb.GetVerificationRequest(verification_id=started.id, page_size=2))
    assert (first.status, first.verified, first.new, first.expected) == (
        pb.VERIFICATION_STATUS_DONE, job.files_seen, 3, job.files_seen)  # fmt: skip
    assert list(first.compared) == ["sha256", "sha1", "md5", "size", "mtime", "mode"]
    assert [(f.path, f.outcome) for f in first.files] == [("a.txt", pb.VERIFICATION_OUTCOME_NEW),
                                                          ("b.txt", pb.VERIFICATION_OUTCOME_NEW)]  # fmt: skip
    assert first.files[0].actual_size == 5
    assert not first.files[0].HasField("expected_size")
    rest = alice.verification.GetVerification(
        pb.GetVerificationRequest(verification_id=started.id, page_size=2, after_file_id=first.next_after_file_id)
    )
    assert ([f.path_bytes for f in rest.files], rest.next_after_file_id) == ([b"c.txt"], 0)


def test_a_stranger_is_not_found_for_the_job_and_the_run_and_it_is_on_the_record(alice, bob, evidence_dir):
    job = scanned_job(evidence_dir, owner=alice.user, count=1)
    run = alice.verification.StartVerification(pb.StartVerificationRequest(job_id=job.pk))
    for call, request in (
        (bob.verification.StartVerification, pb.StartVerificationRequest(job_id=job.pk)),
        (bob.verification.GetVerification, pb.GetVerificationRequest(verification_id=run.id)),
        (alice.verification.GetVerification, pb.GetVerificationRequest(verification_id=2**62)),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            call(request)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SCANNING)
    with pytest.raises(grpc.RpcError) as refused:
        alice.verification.StartVerification(pb.StartVerificationRequest(job_id=job.pk))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert VerificationRun.objects.count() == 1
    refusals = AuditEvent.objects.filter(outcome="refused", via="grpc").values_list("username", "action")
    assert sorted(refusals) == [("alice@example.org", "verify.start"), ("alice@example.org", "verify.view"),
                                ("bob@example.org", "verify.start"), ("bob@example.org", "verify.view")]  # fmt: skip


def test_a_second_run_while_one_is_under_way_is_a_failed_precondition_on_the_record(alice, evidence_dir):
    job = scanned_job(evidence_dir, owner=alice.user, count=1)
    first = alice.verification.StartVerification(pb.StartVerificationRequest(job_id=job.pk))
    _finished(first.id)
    VerificationRun.objects.filter(pk=first.id).update(status=VerificationRun.Status.RUNNING)  # as if still going
    with pytest.raises(grpc.RpcError) as refused:
        alice.verification.StartVerification(pb.StartVerificationRequest(job_id=job.pk))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "one run at a time" in refused.value.details()
    assert AuditEvent.objects.filter(action="verify.start", outcome="refused", job_id=job.pk).exists()
    assert VerificationRun.objects.filter(job_number=job.pk).count() == 1
