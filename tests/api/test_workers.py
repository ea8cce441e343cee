"""WorkerService over real Celery workers: pausing a queue stops its tasks (checked in the database) while other
stages go on, resuming lets the job complete; draining a worker lets it finish what it holds and take no more;
the pool grows and shrinks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grpc
import pytest

from audit.models import AuditEvent
from content.models import StageResult
from imagescanner.v1 import workers_pb2 as wpb
from jobs.lifecycle import job_start
from jobs.models import BatchStage, Job, JobImage, StageClaim, StageProgress
from jobs.services import job_create
from tests.support.grpc import rpc_error
from tests.support.jobs import finished, photos
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def by_host(client) -> dict[str, wpb.Worker]:
    return {w.hostname: w for w in client.workers.ListWorkers(wpb.ListWorkersRequest()).workers}


def log_lines(log: Path) -> list[tuple[int, int]]:
    """(image id, pid) per analysis the counting stage recorded."""
    if not log.exists():
        return []
    return [(int(image), int(pid)) for image, pid in (line.split() for line in log.read_text().splitlines())]


def stage_progress(job: Job, stage: str) -> StageProgress:
    return StageProgress.objects.get(job=job, stage=stage)


def test_pausing_exif_on_every_worker_stops_exif_while_other_stages_go_on(
    grpc_server, operator, alice, workers, spawn, tmp_path, settings
):
    settings.SCAN_BATCH_FILES = 10
    log = tmp_path / "probe.log"
    spawn("probe", queues="probe", concurrency=1, env={"PROBE_LOG": str(log)})
    second = spawn("exif-2", queues="exif", concurrency=1)
    consuming = {name for name, w in by_host(operator).items() if "exif" in w.queues}
    assert second in consuming
    assert len(consuming) >= 2

    paused = operator.workers.PauseQueue(wpb.PauseQueueRequest(queue="exif"))
    try:
        assert set(paused.workers) == consuming
        listed = by_host(operator)
        for name in consuming:
            assert "exif" in listed[name].paused_queues
            assert "exif" not in listed[name].queues
        assert "jobs" in next(w.queues for n, w in listed.items() if n in consuming and n != second)

        photos(tmp_path / "evidence", range(40))
        job = job_create(name="paused", source_path=tmp_path / "evidence", owner=alice.user, stages=["exif", "probe"])
        job_start(job=job)
        wait_for(lambda: stage_progress(job, "probe").done == 40, message="the probe stage to finish every image")
        wait_for(lambda: Job.objects.get(pk=job.pk).discovery_finished, message="discovery to finish")

        # Not one EXIF task started: nothing claimed, no result, no batch's exif share finished, nothing counted.
        image_ids = list(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
        assert len(image_ids) == 40
        assert not StageClaim.objects.filter(stage="exif", image_id__in=image_ids).exists()
        assert not StageResult.objects.filter(stage="exif", image_id__in=image_ids).exists()
        assert not BatchStage.objects.filter(batch__job=job, stage="exif", finished=True).exists()
        exif = stage_progress(job, "exif")
        assert (exif.total, exif.done, exif.failed, exif.unavailable) == (40, 0, 0, 0)
        assert Job.objects.get(pk=job.pk).status == Job.Status.EXTRACTING
    finally:
        resumed = operator.workers.ResumeQueue(wpb.ResumeQueueRequest(queue="exif"))
    assert set(resumed.workers) == consuming
    assert all("exif" in w.queues and not w.paused_queues for n, w in by_host(operator).items() if n in consuming)

    assert finished(job).status == Job.Status.COMPLETED
    assert (stage_progress(job, "exif").done, stage_progress(job, "probe").done) == (40, 40)
    assert StageResult.objects.filter(stage="exif", image_id__in=image_ids).count() == 40


def test_pause_and_resume_one_worker(operator, workers, spawn):
    one, other = spawn("one", queues="probe", concurrency=1), spawn("other", queues="probe", concurrency=1)
    assert list(operator.workers.PauseQueue(wpb.PauseQueueRequest(queue="probe", worker=one)).workers) == [one]
    listed = by_host(operator)
    assert (list(listed[one].queues), list(listed[one].paused_queues)) == ([], ["probe"])
    assert (list(listed[other].queues), list(listed[other].paused_queues)) == (["probe"], [])
    assert list(operator.workers.ResumeQueue(wpb.ResumeQueueRequest(queue="probe")).workers) == [one]
    assert list(by_host(operator)[one].queues) == ["probe"]
    error = rpc_error(operator.workers.PauseQueue, wpb.PauseQueueRequest(queue="probe", worker="nobody@nowhere"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(operator.workers.ResumeQueue, wpb.ResumeQueueRequest(queue="probe"))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # paused nowhere
    done = AuditEvent.objects.filter(user_id=operator.user.pk).order_by("id")
    assert [(e.action, e.outcome, e.target) for e in done] == [
        ("queue.pause", "ok", f"probe on {one}"),
        ("queue.resume", "ok", f"probe on {one}"),
        ("queue.pause", "refused", ""),
        ("queue.resume", "refused", ""),
    ]


def test_draining_a_worker_lets_it_finish_what_it_holds_and_take_no_more(
    operator, alice, workers, spawn, tmp_path, settings
):
    settings.SCAN_BATCH_FILES = 4
    log = tmp_path / "probe.log"
    first = spawn("probe-a", queues="probe", concurrency=1, env={"PROBE_LOG": str(log), "PROBE_DELAY": "0.25"})
    photos(tmp_path / "evidence", range(40))
    job = job_create(name="drain", source_path=tmp_path / "evidence", owner=alice.user, stages=["probe"])
    job_start(job=job)
    wait_for(lambda: log_lines(log), message="the first worker to be analysing")
    (pid,) = {p for _, p in log_lines(log)}

    states = list(operator.workers.DrainWorker(wpb.DrainWorkerRequest(worker=first), timeout=60))

    assert states[0].active + states[0].reserved >= 1  # it was busy when told to drain
    assert [s.idle for s in states] == [False] * (len(states) - 1) + [True]
    assert list(states[-1].paused_queues) == ["probe"]
    at_idle = [image for image, p in log_lines(log) if p == pid]
    assert 0 < len(at_idle) < 40
    # What it held, it finished: every batch it worked on is counted, none half done.
    held = BatchStage.objects.filter(batch__job=job, stage="probe", batch__work__probe__contains=[at_idle[-1]])
    assert held.get().finished
    assert stage_progress(job, "probe").done == len(at_idle)
    listed = by_host(operator)[first]
    assert (list(listed.queues), list(listed.paused_queues), len(listed.active)) == ([], ["probe"], 0)

    spawn("probe-b", queues="probe", concurrency=1, env={"PROBE_LOG": str(log)})
    assert finished(job).status == Job.Status.COMPLETED
    assert [image for image, p in log_lines(log) if p == pid] == at_idle  # it took no more
    assert workers.processes[first].poll() is None  # and it is still running
    counts = Counter(image for image, _ in log_lines(log))
    assert len(counts) == 40
    assert set(counts.values()) == {1}


def test_set_concurrency_grows_and_shrinks_a_pool(operator, workers, spawn):
    sized = spawn("sized", queues="probe", concurrency=1)
    grown = operator.workers.SetConcurrency(wpb.SetConcurrencyRequest(worker=sized, concurrency=3))
    assert (grown.previous, grown.pool_size) == (1, 3)
    assert by_host(operator)[sized].pool_size == 3
    shrunk = operator.workers.SetConcurrency(wpb.SetConcurrencyRequest(worker=sized, concurrency=2))
    assert (shrunk.previous, shrunk.pool_size) == (3, 2)
    assert by_host(operator)[sized].pool_size == 2
    error = rpc_error(operator.workers.SetConcurrency, wpb.SetConcurrencyRequest(worker=sized, concurrency=0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(operator.workers.SetConcurrency, wpb.SetConcurrencyRequest(worker="no@where", concurrency=2))
    assert error.code() == grpc.StatusCode.NOT_FOUND
