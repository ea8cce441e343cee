"""Each status transition of jobs.lifecycle on its own: from the states it leaves it changes the status, writes its
audit record and marks progress; from any other state it returns False and changes and records nothing."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from jobs import lifecycle
from jobs.lifecycle import StartOutcome
from jobs.models import Job, ScanBatch
from jobs.services import job_create

S = Job.Status
LEASE = "lease-1"


@pytest.fixture
def progress(mocker):
    return mocker.patch.object(lifecycle, "progress_changed", autospec=True)


@pytest.fixture
def make_job(db, evidence_dir):
    def make(status: str, **fields) -> Job:
        job = job_create(name="case", source_path=evidence_dir, stages=[])
        Job.objects.filter(pk=job.pk).update(status=status, discovery_lease=LEASE, **fields)
        job.refresh_from_db()
        return job

    return make


def actions(job: Job) -> list[str]:
    return list(AuditEvent.objects.filter(job_id=job.pk).order_by("pk").values_list("action", flat=True))


def scan_begin(job: Job) -> bool:
    return lifecycle.job_scan_begin(job_id=job.pk)


def extract_begin(job: Job) -> bool:
    return lifecycle.job_extract_begin(job=job, lease=LEASE)


def extract_begin_under_another_lease(job: Job) -> bool:
    return lifecycle.job_extract_begin(job=job, lease="lease-2")


def complete(job: Job) -> bool:
    return lifecycle.job_try_complete(job)


def fail(job: Job) -> bool:
    return lifecycle.job_fail(job_id=job.pk, error="broken")


def fail_under_another_lease(job: Job) -> bool:
    return lifecycle.job_fail(job_id=job.pk, error="broken", lease="lease-2")


def cancel(job: Job) -> bool:
    return lifecycle.job_cancel(job=job)


def start(job: Job) -> bool:
    return lifecycle.job_start(job=job).started


# transition, the states it leaves, the status it leads to, the audit record it writes
TRANSITIONS = [
    (start, {S.CREATED}, S.QUEUED, "job.start"),
    (scan_begin, {S.QUEUED}, S.SCANNING, None),
    (extract_begin, {S.SCANNING}, S.EXTRACTING, None),
    (complete, {S.EXTRACTING}, S.COMPLETED, "job.complete"),
    (fail, set(Job.ACTIVE), S.FAILED, "job.fail"),
    (cancel, set(Job.ACTIVE), S.CANCELLED, "job.cancel"),
]


@pytest.mark.parametrize(
    ("transition", "status", "after", "action"),
    [(t, status, after, action) for t, leaves, after, action in TRANSITIONS for status in sorted(leaves)],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_a_transition_from_a_state_it_leaves_changes_records_and_marks_progress(
    make_job, progress, transition, status, after, action
):
    job = make_job(status, discovery_finished=status == S.EXTRACTING)
    assert transition(job) is True
    assert Job.objects.get(pk=job.pk).status == after
    assert actions(job) == ["job.create"] + ([action] if action else [])
    progress.assert_called_once_with(job.pk)


@pytest.mark.parametrize(
    ("transition", "status"),
    [(t, status) for t, leaves, _, _ in TRANSITIONS for status in S if status not in leaves]
    + [(extract_begin_under_another_lease, S.SCANNING), (fail_under_another_lease, S.SCANNING)],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_a_transition_from_any_other_state_returns_false_and_changes_and_records_nothing(
    make_job, progress, transition, status
):
    job = make_job(status, discovery_finished=True)
    assert transition(job) is False
    assert Job.objects.get(pk=job.pk).status == status
    assert actions(job) == ["job.create"]
    progress.assert_not_called()


def test_a_job_completes_only_once_discovery_is_over_and_every_batch_finished(make_job, progress):
    job = make_job(S.EXTRACTING)
    assert lifecycle.job_try_complete(job) is False  # discovery still runs
    job = make_job(S.EXTRACTING, discovery_finished=True)
    batch = ScanBatch.objects.create(job=job, seq=0, work={})
    assert lifecycle.job_try_complete(job) is False
    ScanBatch.objects.filter(pk=batch.pk).update(finished=True)
    assert lifecycle.job_try_complete(job) is True
    assert Job.objects.get(pk=job.pk).status == S.COMPLETED
    assert AuditEvent.objects.get(job_id=job.pk, action="job.complete").data == {
        "files_seen": 0,
        "images": 0,
        "distinct_images": 0,
        "skipped": 0,
        "errors": 0,
    }


def test_extract_begin_closes_discovery_in_the_database_and_in_memory(make_job, progress):
    job = make_job(S.SCANNING, current_path="a/b.jpg")
    assert lifecycle.job_extract_begin(job=job, lease=LEASE)
    stored = Job.objects.get(pk=job.pk)
    for row in (job, stored):
        assert (row.status, row.discovery_finished, row.current_path) == (S.EXTRACTING, True, "")
    assert stored.discovery_finished_at == job.discovery_finished_at is not None


@pytest.mark.parametrize(
    ("status", "result"),
    [(s, StartOutcome.Result.ALREADY_RUNNING) for s in Job.ACTIVE]
    + [(s, StartOutcome.Result.ENDED) for s in Job.FINAL],
)
def test_start_of_a_running_or_ended_job_says_why_it_did_not_start(make_job, progress, status, result):
    job = make_job(status)
    outcome = lifecycle.job_start(job=job)
    assert (outcome.result, outcome.started) == (result, False)


def test_start_with_the_source_folder_gone_leaves_the_job_created_to_start_later(make_job, progress, evidence_dir):
    job = make_job(S.CREATED)
    evidence_dir.rmdir()
    assert lifecycle.job_start(job=job) == StartOutcome(StartOutcome.Result.SOURCE_MISSING)
    assert (Job.objects.get(pk=job.pk).status, actions(job)) == (S.CREATED, ["job.create"])
    evidence_dir.mkdir()
    assert lifecycle.job_start(job=job) == StartOutcome(StartOutcome.Result.STARTED)
    assert job.status == S.QUEUED  # read again


def test_start_says_how_many_scans_are_queued_before_it(make_job, progress):
    first, second, third = (make_job(S.CREATED) for _ in range(3))
    assert lifecycle.job_start(job=first) == StartOutcome(StartOutcome.Result.STARTED)
    assert lifecycle.job_start(job=second) == StartOutcome(StartOutcome.Result.QUEUED, waiting=1)
    assert lifecycle.job_start(job=third) == StartOutcome(StartOutcome.Result.QUEUED, waiting=2)


def test_start_that_another_caller_made_first_is_already_running(make_job, progress):
    job = make_job(S.CREATED)
    Job.objects.filter(pk=job.pk).update(status=S.QUEUED)  # started elsewhere after `job` was read
    assert lifecycle.job_start(job=job) == StartOutcome(StartOutcome.Result.ALREADY_RUNNING)
    assert (job.status, actions(job)) == (S.QUEUED, ["job.create"])
    progress.assert_not_called()
