"""A broker outage longer than every retry budget (the result backend's 20 retries, the publish retry policy, the
visibility timeout) pauses discovery and extraction: the job never fails, and ends with every file counted once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from jobs.models import FileInstance, Job, JobImage, StageProgress
from jobs.progress.waiting import BROKER_UNREACHABLE
from jobs.samples import exif_bytes, write_photo
from tests.support.brokers import PrivateRedis
from tests.support.environment import REPO
from tests.support.evidence_trees import assert_counters_add_up
from tests.support.processes import child_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The outage the issue reported failing jobs from 25 s on, as long as the operators asked to be proven.
OUTAGE_SECONDS = 120
PHOTOS = 400


def _probe_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _outage(redis: PrivateRedis, job_name: str) -> Job:
    """Stop the broker for OUTAGE_SECONDS, checking all along that the job stays active, then start it again.
    Returns the job as it was once the broker had stopped."""
    redis.stop()
    end = time.monotonic() + OUTAGE_SECONDS
    at_start = Job.objects.get(name=job_name)

    def over() -> bool:
        status = Job.objects.get(name=job_name).status
        assert status in Job.ACTIVE, f"the job went {status} during the outage"
        return time.monotonic() > end

    wait_for(over, timeout=OUTAGE_SECONDS + 30, interval=1, message="the outage to end")
    redis.start()
    return at_start


def test_a_long_broker_outage_during_discovery_and_extraction_pauses_the_job(
    transactional_db, workers, spawn, evidence_dir, private_redis, tmp_path
):
    for seed in range(PHOTOS):
        write_photo(evidence_dir / f"d{seed % 7}" / f"img_{seed:05d}.jpg", width=48, height=32, seed=seed,
                    exif=exif_bytes(make="Test", model="M", taken="2024:01:02 03:04:05"))  # fmt: skip
    (evidence_dir / "notes.txt").write_text("not a picture")
    (evidence_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    files = PHOTOS + 2
    probe_log = tmp_path / "probe.log"
    env = {
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_RESULT_BACKEND": private_redis.url,
        # Every retry budget far shorter than the outage: a job must not outlast it on retries alone.
        "CELERY_PUBLISH_MAX_RETRIES": "5",
        "CELERY_RESULT_BACKEND_MAX_RETRIES": "5",
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "PROBE_LOG": str(probe_log),
        "PROBE_DELAY": "0.1",
        "SCAN_BATCH_FILES": "5",
        "SCAN_STALL_SECONDS": "20",
    }
    spawn("jobs-exif-o", queues="jobs,exif", env=env)
    spawn("probe-o", queues="probe", concurrency=1, env=env)
    cli = child_process(
        [sys.executable, "manage.py", "scan", str(evidence_dir), "--stages", "exif,probe", "--name", "outage"],
        env={**workers.env, **env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        job = wait_for(lambda: Job.objects.filter(name="outage", files_seen__gt=0).first(), message="discovery")
        assert not _outage(private_redis, "outage").discovery_finished, "the outage did not fall during discovery"

        wait_for(
            lambda: Job.objects.filter(pk=job.pk, discovery_finished=True).exists() and _probe_count(probe_log) > 0,
            timeout=300,
            message="discovery to end and extraction to run",
        )
        assert _probe_count(probe_log) < PHOTOS, "extraction was over before the second outage"
        _outage(private_redis, "outage")

        output, _ = cli.communicate(timeout=400)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == 0, output.decode()
    # The operator at the command line was told, both times, and told when it was over.
    assert output.decode().count(f"waiting: {BROKER_UNREACHABLE}") >= 4, output.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    assert job.files_seen == files == FileInstance.objects.filter(job=job).values("path").distinct().count()
    assert_counters_add_up(job)
    assert (job.images, job.skipped, job.errors) == (PHOTOS, 1, 1)
    image_ids = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(image_ids) == PHOTOS
    assert set(Counter(int(line.split()[0]) for line in probe_log.read_text().splitlines())) == image_ids
    for progress in StageProgress.objects.filter(job=job):
        assert (progress.total, progress.done) == (PHOTOS, PHOTOS), progress.stage
