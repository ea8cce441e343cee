"""The distributed pipeline with real workers on real Redis (and RabbitMQ) and PostgreSQL: exactly-once analysis
and counting, completion, worker death, redelivery, broker restart, overlapping jobs, cancel, delete, re-run."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from content.models import ExifData, Image, StageResult
from jobs.lifecycle import job_cancel, job_start
from jobs.models import BatchStage, FileInstance, Job, JobImage, ScanBatch, StageProgress
from jobs.services import job_create, job_delete, job_rerun
from scanner.celery import app
from tests.support.environment import REPO, SPARE_REDIS_DBS
from tests.support.jobs import finished, photos
from tests.support.processes import child_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def probe_log_entries(log: Path) -> list[tuple[int, int]]:
    """(image id, pid of the worker process that analysed it), one per analysis, in order."""
    if not log.exists():
        return []
    return [(int(image), int(pid)) for image, pid in (line.split() for line in log.read_text().splitlines())]


def probe_log_counts(log: Path) -> Counter:
    return Counter(image for image, _pid in probe_log_entries(log))


def start_job(source: Path, stages: list[str], name: str = "job") -> Job:
    job = job_create(name=name, source_path=source, stages=stages)
    job_start(job=job)
    return job


def progress(job: Job) -> dict[str, tuple[int, ...]]:
    return {
        p.stage: (p.total, p.done, p.failed, p.skipped, p.unavailable, p.reused)
        for p in StageProgress.objects.filter(job=job)
    }


@pytest.fixture
def probe_log(tmp_path) -> Path:
    return tmp_path / "probe.log"


@pytest.fixture
def probe_worker(spawn, probe_log):
    """Start a worker for the counting stage's own queue; returns a function (delay, extra env) -> hostname."""

    def start(delay: float = 0.0, **env: str) -> str:
        return spawn(
            "probe", queues="probe", concurrency=1, env={"PROBE_LOG": str(probe_log), "PROBE_DELAY": str(delay), **env}
        )

    return start


def test_500_images_through_every_stage_are_each_analysed_once(
    transactional_db, workers, probe_worker, probe_log, evidence_dir, settings
):
    settings.SCAN_BATCH_FILES = 16
    photos(evidence_dir, range(500))
    probe_worker()
    job = finished(start_job(evidence_dir, ["exif", "probe"]))

    assert job.status == Job.Status.COMPLETED
    image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(image_ids) == 500 == job.distinct_images == job.files_seen
    assert probe_log_counts(probe_log) == Counter(dict.fromkeys(image_ids, 1))
    for stage in ("exif", "probe"):
        rows = StageResult.objects.filter(image_id__in=image_ids, stage=stage)
        assert rows.count() == 500
        assert set(rows.values_list("status", flat=True)) == {"done"}
    assert ExifData.objects.filter(image_id__in=image_ids).count() == 500
    assert progress(job) == {"exif": (500, 500, 0, 0, 0, 0), "probe": (500, 500, 0, 0, 0, 0)}
    batches = ScanBatch.objects.filter(job=job)
    assert batches.count() == 32
    assert not batches.filter(finished=False).exists()
    # Extraction ran while discovery was still going: batches finished before the walk did.
    assert BatchStage.objects.filter(batch__job=job, finished_at__lt=job.discovery_finished_at).exists()


@pytest.mark.parametrize("source", ["empty", "no-images"])
def test_a_source_without_images_completes(transactional_db, workers, evidence_dir, source):
    if source == "no-images":
        (evidence_dir / "notes.txt").write_text("no pictures here")
        (evidence_dir / "sub").mkdir()
        (evidence_dir / "sub" / "data.bin").write_bytes(os.urandom(512))
    job = finished(start_job(evidence_dir, ["exif"]))
    assert job.status == Job.Status.COMPLETED
    assert job.files_seen == (0 if source == "empty" else 2) == job.skipped
    assert progress(job) == {"exif": (0, 0, 0, 0, 0, 0)}


def _job_waiting_for_probe(evidence_dir: Path, settings) -> tuple[Job, list[ScanBatch]]:
    """A job of 30 photos in batches of 10 over exif and probe, once discovery and exif are over (nobody consumes
    `probe` yet), and its batches in order."""
    settings.SCAN_BATCH_FILES = 10
    photos(evidence_dir, range(30))
    job = start_job(evidence_dir, ["exif", "probe"])
    stages = BatchStage.objects.filter(batch__job=job)
    wait_for(
        lambda: (
            Job.objects.filter(pk=job.pk, discovery_finished=True).exists()
            and not stages.filter(stage="exif", finished=False).exists()
        ),
        message="discovery and the exif stage to be over",
    )
    batches = list(ScanBatch.objects.filter(job=job).order_by("seq"))
    return job, batches


def test_a_stage_task_delivered_twice_changes_nothing(
    transactional_db, workers, spawn, probe_log, evidence_dir, settings
):
    """Every stage task and chord body of a running job is delivered twice: the second delivery analyses nothing
    again and counts nothing again. Nobody consumes the `probe` queue at first, so the job cannot complete (and
    make the duplicates return early) until the test lets the original probe tasks run."""
    job, batches = _job_waiting_for_probe(evidence_dir, settings)
    stages = BatchStage.objects.filter(batch__job=job)
    early = batches[:-1]
    assert early, "the job needs more than one batch"
    early_images = sum(len(batch.work["probe"]) for batch in early)

    def send_again(batch: ScanBatch, stage: str, queue: str | None = None) -> None:
        app.send_task("jobs.tasks.run_stage", args=(batch.pk, stage), queue=queue).get(timeout=60)

    # Exif tasks already delivered once, delivered again while the job waits for its probe stage.
    for batch in batches:
        send_again(batch, "exif")
    job.refresh_from_db()
    assert job.status == Job.Status.EXTRACTING
    assert progress(job)["exif"] == (30, 30, 0, 0, 0, 0)
    assert StageResult.objects.filter(stage="exif").count() == ExifData.objects.count() == 30

    # The probe tasks of all batches but the last, and then their chord bodies, delivered through another queue
    # before the originals: the originals of those batches become their second delivery. They still run while the
    # job is active: one worker process takes the originals in queue order, and the last batch (and so the job)
    # cannot finish before its own original, queued after theirs, has run.
    probe = spawn("probe", queues="probe.again", concurrency=1, env={"PROBE_LOG": str(probe_log)})
    for batch in early:
        send_again(batch, "probe", queue="probe.again")
        app.send_task("jobs.tasks.batch_finish", args=(batch.pk,)).get(timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.EXTRACTING
    assert list(ScanBatch.objects.filter(job=job, finished=True).order_by("seq")) == early
    assert progress(job)["probe"] == (30, early_images, 0, 0, 0, 0)
    assert sum(probe_log_counts(probe_log).values()) == early_images

    app.control.add_consumer("probe", destination=[probe], reply=True)
    finished(job)
    # Every probe delivery ran on that worker: one per early batch sent above, and every original.
    wait_for(
        lambda: workers.log(probe).count(" succeeded in ") == len(early) + len(batches),
        message="every probe delivery to have run",
    )

    assert job.status == Job.Status.COMPLETED
    image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(image_ids) == 30
    assert probe_log_counts(probe_log) == Counter(dict.fromkeys(image_ids, 1))
    for stage in ("exif", "probe"):
        assert StageResult.objects.filter(stage=stage).count() == 30
        assert set(StageResult.objects.filter(stage=stage).values_list("image_id", flat=True)) == image_ids
    assert ExifData.objects.count() == 30
    assert progress(job) == {"exif": (30, 30, 0, 0, 0, 0), "probe": (30, 30, 0, 0, 0, 0)}
    for batch_stage in stages.select_related("batch"):
        assert batch_stage.done == len(batch_stage.batch.work[batch_stage.stage])


def _task_args(message: bytes) -> list:
    """The arguments of a task message as kombu's Redis transport keeps it in a queue's list."""
    envelope = json.loads(message)
    assert envelope["properties"]["body_encoding"] == "base64"
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    return args


def test_a_stage_task_the_broker_lost_is_dispatched_again(
    transactional_db, workers, spawn, probe_log, evidence_dir, settings
):
    """The probe task of the job's last batch disappears from its queue before any worker takes it, as a message
    does when Redis shuts down between taking it off the list and recording it unacknowledged. Nothing else of the
    job is left to run after it, yet the job completes: a worker finds the stage silent for SCAN_STALL_SECONDS and
    dispatches it again. Nobody consumes `probe` until the message is gone."""
    job, batches = _job_waiting_for_probe(evidence_dir, settings)
    stages = BatchStage.objects.filter(batch__job=job)
    last = batches[-1]
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        queued = client.lrange("probe", 0, -1)
        assert sorted(_task_args(m) for m in queued) == sorted([b.pk, "probe"] for b in batches)
        (lost,) = [m for m in queued if _task_args(m) == [last.pk, "probe"]]
        assert client.lrem("probe", 1, lost) == 1

    probe = spawn("probe", queues="probe", concurrency=1, env={"PROBE_LOG": str(probe_log), "SCAN_STALL_SECONDS": "2"})
    finished(job)

    assert job.status == Job.Status.COMPLETED
    image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(image_ids) == 30
    # One worker process takes the probe queue in order: the tasks still queued ran before any copy of them the
    # sweep may have added, so every image was analysed exactly once, the last batch's by the copy.
    assert probe_log_counts(probe_log) == Counter(dict.fromkeys(image_ids, 1))
    assert stages.get(batch=last, stage="probe").redispatches >= 1
    assert f"job {job.pk}: batch {last.seq}: probe silent for over 2 s" in workers.log(probe)
    assert progress(job) == {"exif": (30, 30, 0, 0, 0, 0), "probe": (30, 30, 0, 0, 0, 0)}
    assert not ScanBatch.objects.filter(job=job, finished=False).exists()
    for batch_stage in stages.select_related("batch"):
        assert batch_stage.done == len(batch_stage.batch.work[batch_stage.stage])


def test_a_scan_task_the_broker_lost_is_sent_again(transactional_db, workers, spawn, evidence_dir):
    """The job's scan message disappears from the `jobs` queue before any worker takes it, as one does when Redis
    shuts down between taking it off the list and recording it unacknowledged. Nobody consumes `jobs` until the
    message is gone; then a worker that does finds the job's discovery silent for SCAN_STALL_SECONDS and sends its
    scan again, under a new lease, and the job completes."""
    photos(evidence_dir, range(12))
    session_workers = list(workers.processes)
    app.control.cancel_consumer("jobs", destination=session_workers, reply=True)
    try:
        job = start_job(evidence_dir, ["exif"])
        lost_lease = job.discovery_lease
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            (lost,) = [m for m in client.lrange("jobs", 0, -1) if _task_args(m) == [job.pk, lost_lease]]
            assert client.lrem("jobs", 1, lost) == 1
        recovering = spawn("recovering", queues="jobs", concurrency=1, env={"SCAN_STALL_SECONDS": "2"})
        finished(job)
    finally:
        app.control.add_consumer("jobs", destination=session_workers, reply=True)

    assert job.status == Job.Status.COMPLETED
    assert job.files_seen == job.distinct_images == 12
    assert job.discovery_lease not in ("", lost_lease)
    assert f"job {job.pk}: discovery silent for over 2 s, its scan lost: sent again" in workers.log(recovering)
    assert progress(job) == {"exif": (12, 12, 0, 0, 0, 0)}


def _purge_amqp(url: str, queues: list[str]) -> None:
    from kombu import Connection

    with Connection(url) as conn:
        channel = conn.channel()
        for queue in queues:
            try:
                channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                channel = conn.channel()


def _scan_cli(source: Path, env: dict[str, str], stages: str) -> subprocess.Popen:
    """`manage.py scan` in the distributed configuration: it queues the job and follows it to the end."""
    return child_process(
        [sys.executable, "manage.py", "scan", str(source), "--stages", stages, "--name", "cli"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_killing_a_stage_worker_mid_batch_loses_nothing(
    transactional_db, workers, spawn, probe_log, evidence_dir, broker
):
    photos(evidence_dir, range(48))
    if broker == "redis":
        url = f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[2]}"
        with app.connection_for_write(url) as conn:
            conn.default_channel.client.flushdb()
    else:
        # The test purges these queues: parallel checkouts on one RabbitMQ each need a vhost of their own.
        url = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
        _purge_amqp(url, ["jobs", "exif", "probe"])
    env = {
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[1]}",
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "PROBE_LOG": str(probe_log),
        "PROBE_DELAY": "0.1",
        "SCAN_BATCH_FILES": "12",
    }
    spawn("jobs-exif", queues="jobs,exif", env=env)
    doomed = spawn("probe-a", queues="probe", concurrency=1, env=env)
    cli = _scan_cli(evidence_dir, {**workers.env, **env}, "exif,probe")

    wait_for(lambda: sum(probe_log_counts(probe_log).values()) >= 3, message="the probe stage to be mid-batch")
    workers.kill(doomed, signal.SIGKILL)
    before_kill = probe_log_entries(probe_log)
    assert len(before_kill) < 48
    doomed_pids = {pid for _image, pid in before_kill}
    # Images the killed worker analysed in a batch whose results it never saved: only a redelivery of that batch's
    # task can give them a result.
    saved = set(StageResult.objects.filter(stage="probe").values_list("image_id", flat=True))
    interrupted = {image for image, _pid in before_kill} - saved
    assert interrupted, "the worker was not killed in the middle of a batch"
    spawn("probe-b", queues="probe", concurrency=1, env=env)

    output, _ = cli.communicate(timeout=180)
    assert cli.returncode == 0, output.decode()
    job = Job.objects.get(name="cli")
    assert job.status == Job.Status.COMPLETED
    image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(image_ids) == 48
    assert set(probe_log_counts(probe_log)) == image_ids  # every image analysed, some of them twice
    # The interrupted batch was delivered again and analysed by the other worker.
    analysed_after = {
        image for image, pid in probe_log_entries(probe_log)[len(before_kill) :] if pid not in doomed_pids
    }
    assert interrupted <= analysed_after
    for stage in ("exif", "probe"):
        assert StageResult.objects.filter(image_id__in=image_ids, stage=stage).count() == 48
    assert progress(job)["probe"] == (48, 48, 0, 0, 0, 0)
    assert progress(job)["exif"] == (48, 48, 0, 0, 0, 0)


def test_redis_restart_during_a_scan(transactional_db, workers, spawn, probe_log, evidence_dir, private_redis):
    cli = None
    try:
        photos(evidence_dir, range(60))
        url = private_redis.url
        env = {
            "CELERY_BROKER_URL": url,
            "CELERY_RESULT_BACKEND": url,
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "CELERY_UNACKED_RESTORE_THROTTLE": "1",
            "PROBE_LOG": str(probe_log),
            "PROBE_DELAY": "0.05",
            "SCAN_BATCH_FILES": "10",
            # A message Redis took off a queue but had not yet recorded unacknowledged when it shut down is gone:
            # the stage it carried is dispatched again once silent this long.
            "SCAN_STALL_SECONDS": "10",
        }
        spawn("jobs-exif-r", queues="jobs,exif", env=env)
        spawn("probe-r", queues="probe", concurrency=1, env=env)
        cli = _scan_cli(evidence_dir, {**workers.env, **env}, "exif,probe")

        wait_for(lambda: sum(probe_log_counts(probe_log).values()) >= 5, message="the pipeline to be running")
        private_redis.stop()
        assert sum(probe_log_counts(probe_log).values()) < 60
        private_redis.start()

        output, _ = cli.communicate(timeout=200)
        assert cli.returncode == 0, output.decode()
        job = Job.objects.get(name="cli")
        image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
        assert job.status == Job.Status.COMPLETED
        assert len(image_ids) == 60
        assert set(probe_log_counts(probe_log)) == image_ids
        assert progress(job)["probe"] == (60, 60, 0, 0, 0, 0)
    finally:
        if cli is not None and cli.poll() is None:  # the scan did not end: it must not outlive the test
            cli.kill()
            cli.communicate()


def test_two_jobs_over_overlapping_content_analyse_shared_images_once(
    transactional_db, workers, probe_worker, probe_log, evidence_dir, settings
):
    settings.SCAN_BATCH_FILES = 20
    photos(evidence_dir, range(0, 120), "a")
    photos(evidence_dir, range(60, 180), "b")
    probe_worker(delay=0.01)
    first = start_job(evidence_dir / "a", ["exif", "probe"], name="a")
    second = start_job(evidence_dir / "b", ["exif", "probe"], name="b")
    finished(first)
    finished(second)

    assert first.status == second.status == Job.Status.COMPLETED
    assert Image.objects.count() == 180
    assert probe_log_counts(probe_log) == Counter(dict.fromkeys(Image.objects.values_list("pk", flat=True), 1))
    assert StageResult.objects.filter(stage="exif").count() == 180
    a, b = progress(first), progress(second)
    for stage in ("exif", "probe"):
        assert a[stage][:5] == b[stage][:5] == (120, 120, 0, 0, 0)
        assert a[stage][5] + b[stage][5] == 60  # each shared image was reused by exactly one of the two jobs


def test_cancel_in_the_middle_drops_queued_work(
    transactional_db, workers, probe_worker, probe_log, evidence_dir, settings
):
    settings.SCAN_BATCH_FILES = 10
    photos(evidence_dir, range(200))
    probe_worker(delay=0.05)
    job = start_job(evidence_dir, ["exif", "probe"])
    wait_for(lambda: sum(probe_log_counts(probe_log).values()) >= 5, message="analysis to start")
    assert job_cancel(job=job)

    # Every queued stage task still runs, finds the job cancelled and does nothing: wait until all are accounted.
    wait_for(
        lambda: not BatchStage.objects.filter(batch__job=job, finished=False).exists(),
        message="queued work to drain",
    )
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    analysed = sum(probe_log_counts(probe_log).values())
    assert analysed < 200
    assert StageResult.objects.filter(stage="probe").count() == analysed


def test_delete_keeps_images_another_job_references(transactional_db, workers, evidence_dir):
    photos(evidence_dir, range(0, 6), "a")
    photos(evidence_dir, range(4, 8), "b")
    first = finished(start_job(evidence_dir / "a", ["exif"], name="a"))
    second = finished(start_job(evidence_dir / "b", ["exif"], name="b"))
    shared = set(JobImage.objects.filter(job=first).values_list("image_id", flat=True)) & set(
        JobImage.objects.filter(job=second).values_list("image_id", flat=True)
    )
    assert len(shared) == 2

    removed = job_delete(job=first)

    assert removed == 4
    assert not Job.objects.filter(pk=first.pk).exists()
    assert not FileInstance.objects.filter(job_id=first.pk).exists()
    assert set(Image.objects.values_list("pk", flat=True)) == set(
        JobImage.objects.filter(job=second).values_list("image_id", flat=True)
    )
    assert StageResult.objects.count() == ExifData.objects.count() == 4
    assert FileInstance.objects.filter(job=second).count() == 4


def test_several_queued_jobs_all_run_and_a_rerun_links_earlier_results(
    transactional_db, workers, probe_worker, probe_log, evidence_dir
):
    photos(evidence_dir, range(30))
    probe_worker()
    jobs = [start_job(evidence_dir, ["exif", "probe"], name=f"q{i}") for i in range(3)]
    for job in jobs:
        assert finished(job).status == Job.Status.COMPLETED
    analysed = probe_log_counts(probe_log)
    assert analysed == Counter(dict.fromkeys(analysed, 1))
    assert len(analysed) == 30

    rerun = finished(job_rerun(job=jobs[0]))
    assert rerun.status == Job.Status.COMPLETED
    assert rerun.rerun_of_id == jobs[0].pk
    assert probe_log_counts(probe_log) == analysed  # nothing analysed again
    assert progress(rerun) == {"exif": (30, 30, 0, 0, 0, 30), "probe": (30, 30, 0, 0, 0, 30)}
    assert not ScanBatch.objects.filter(job=rerun).exists()  # linked at discovery, never queued


def test_a_queued_scan_starts_when_a_worker_is_free(transactional_db, workers, evidence_dir):
    photos(evidence_dir, range(6))
    session_workers = list(workers.processes)
    app.control.cancel_consumer("jobs", destination=session_workers, reply=True)
    try:
        waiting = [start_job(evidence_dir, ["exif"], name=f"waiting {i}") for i in range(2)]
        # The same workers still take work from their other queues: round trips through the exif queue (a stage
        # task for a batch that does not exist, which does nothing) show they are running, and the scans, published
        # before, are still waiting after them.
        for _ in range(3):
            assert app.send_task("jobs.tasks.run_stage", args=(0, "exif")).get(timeout=60) == {}
        assert [Job.objects.get(pk=job.pk).status for job in waiting] == [Job.Status.QUEUED] * 2
        with app.connection_for_write() as conn:
            assert conn.default_channel.client.llen("jobs") == 2
        assert all(job.started_at is None for job in Job.objects.filter(pk__in=[job.pk for job in waiting]))
    finally:
        app.control.add_consumer("jobs", destination=session_workers, reply=True)

    for job in waiting:
        assert finished(job).status == Job.Status.COMPLETED
        assert progress(job)["exif"][:2] == (6, 6)
