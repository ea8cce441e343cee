"""VerificationService: an adapter from gRPC to re-verification (verification.services and selectors), with the
web app's need-to-know (verification.access): a job or run the caller may not see is NOT_FOUND, recorded there."""

from __future__ import annotations

import grpc

from api.auth import current_user
from api.errors import ApiError
from api.jobs_servicer import timestamp_message
from imagescanner.v1 import verification_pb2 as pb
from imagescanner.v1 import verification_pb2_grpc
from verification.access import NotFound, verification_job_for_user, verification_run_for_user
from verification.models import VerificationFile, VerificationRun
from verification.selectors import verification_files
from verification.services import COUNTS, VerificationRefused, verification_queue

STATUSES = {
    VerificationRun.Status.QUEUED: pb.VERIFICATION_STATUS_QUEUED,
    VerificationRun.Status.RUNNING: pb.VERIFICATION_STATUS_RUNNING,
    VerificationRun.Status.DONE: pb.VERIFICATION_STATUS_DONE,
    VerificationRun.Status.FAILED: pb.VERIFICATION_STATUS_FAILED,
}
OUTCOMES = {
    VerificationFile.Outcome.CHANGED_HASH: pb.VERIFICATION_OUTCOME_CHANGED_HASH,
    VerificationFile.Outcome.CHANGED_METADATA: pb.VERIFICATION_OUTCOME_CHANGED_METADATA,
    VerificationFile.Outcome.MISSING: pb.VERIFICATION_OUTCOME_MISSING,
    VerificationFile.Outcome.NEW: pb.VERIFICATION_OUTCOME_NEW,
    VerificationFile.Outcome.UNREADABLE: pb.VERIFICATION_OUTCOME_UNREADABLE,
}
PAGE_DEFAULT, PAGE_MAX = 100, 1000


def verification_message(run: VerificationRun) -> pb.Verification:
    return pb.Verification(
        id=run.pk,
        job_id=run.job_number,
        status=STATUSES[run.status],
        error=run.error,
        started_by=run.username,
        via=run.via,
        create_time=timestamp_message(run.created_at),
        start_time=timestamp_message(run.started_at),
        finish_time=timestamp_message(run.finished_at),
        compared=run.compared,
        expected=run.expected,
        checked=run.checked,
        **{name: getattr(run, name) for name in COUNTS},
    )


def file_message(row: VerificationFile) -> pb.VerificationFile:
    return pb.VerificationFile(
        id=row.pk,
        path=row.path,
        path_bytes=row.raw_path,
        outcome=OUTCOMES[row.outcome],
        detail=row.detail,
        expected_sha256=row.expected_sha256,
        actual_sha256=row.actual_sha256,
        expected_size=row.expected_size,
        actual_size=row.actual_size,
        expected_mtime=timestamp_message(row.expected_mtime),
        actual_mtime=timestamp_message(row.actual_mtime),
        expected_mode=row.expected_mode,
        actual_mode=row.actual_mode,
    )


class VerificationServicer(verification_pb2_grpc.VerificationServiceServicer):
    def StartVerification(self, request: pb.StartVerificationRequest, context) -> pb.Verification:
        try:
            job = verification_job_for_user(user=current_user(), job_id=request.job_id, action="verify.start")
        except NotFound as exc:
            raise ApiError(grpc.StatusCode.NOT_FOUND, str(exc), recorded=True) from None
        try:
            return verification_message(verification_queue(job=job))
        except VerificationRefused as exc:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc), recorded=True) from None

    def GetVerification(self, request: pb.GetVerificationRequest, context) -> pb.Verification:
        if not 0 <= request.page_size <= PAGE_MAX:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"page_size is 0 (the default) to {PAGE_MAX}")
        try:
            run = verification_run_for_user(user=current_user(), run_id=request.verification_id, action="verify.view")
        except NotFound as exc:
            raise ApiError(grpc.StatusCode.NOT_FOUND, str(exc), recorded=True) from None
        size = request.page_size or PAGE_DEFAULT
        rows = list(verification_files(run=run).filter(id__gt=request.after_file_id)[: size + 1])
        message = verification_message(run)
        message.files.extend(file_message(row) for row in rows[:size])
        if len(rows) > size:
            message.next_after_file_id = rows[size - 1].pk
        return message
