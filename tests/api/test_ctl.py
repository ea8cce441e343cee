"""`manage.py ctl`, the operator's command line, against the real server over TLS."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from jobs.models import FileInstance, Job
from jobs.services import job_create, job_start
from tests.conftest import REPO
from tests.jobs.test_pipeline import finished, photos

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def ctl(grpc_server, worker_env, tmp_path):
    ca = tmp_path / "server.crt"
    ca.write_bytes(grpc_server.ca)

    def run(token: str, *args: str) -> subprocess.CompletedProcess:
        env = {**worker_env, "GRPC_TARGET": grpc_server.target, "GRPC_TLS_CA": str(ca), "SCANNER_API_TOKEN": token}
        return subprocess.run(
            [sys.executable, "manage.py", "ctl", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )

    return run


def test_ctl_lists_jobs_fetches_files_and_controls_workers(ctl, grpc_server, alice, operator, workers, tmp_path):
    photos(grpc_server.sources_root / "ctl-case", range(3))
    created = ctl(alice.token, "create", "ctl-case", "--name", "From ctl", "--stages", "exif", "--start")
    assert created.returncode == 0, created.stderr
    job = Job.objects.get(name="From ctl")
    watched = ctl(alice.token, "watch", str(job.pk))
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[-1].startswith("completed  files 3  images 3  errors 0  exif 3/3")
    listed = ctl(alice.token, "jobs")
    assert f"{job.pk}  completed   From ctl  [ctl-case]" in listed.stdout
    again = ctl(alice.token, "rerun", str(job.pk))
    assert again.returncode == 0, again.stderr
    rerun = Job.objects.get(rerun_of=job)
    assert again.stdout.split()[0] == str(rerun.pk)
    assert "From ctl  [ctl-case]" in again.stdout
    assert ctl(alice.token, "watch", str(rerun.pk)).stdout.splitlines()[-1].startswith("completed  files 3")

    instance = FileInstance.objects.filter(job=job).first()
    out = tmp_path / "copy.jpg"
    fetched = ctl(alice.token, "fetch", str(instance.pk), "-o", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == instance.sha256
    assert f"SHA-256 {instance.sha256} (matches the scan)" in fetched.stderr

    refused = ctl(alice.token, "workers")
    assert refused.returncode != 0
    assert "PERMISSION_DENIED" in refused.stderr
    shown = ctl(operator.token, "workers")
    assert shown.returncode == 0, shown.stderr
    assert "queues classify, exif, faces, jobs" in shown.stdout
    paused = ctl(operator.token, "pause", "faces")
    assert paused.returncode == 0, paused.stderr
    try:
        assert "faces (PAUSED)" in ctl(operator.token, "workers").stdout
    finally:
        assert ctl(operator.token, "resume", "faces").returncode == 0
    assert "(PAUSED)" not in ctl(operator.token, "workers").stdout


def test_ctl_without_a_valid_token_says_why(ctl, alice, evidence_dir):
    job = job_create(name="theirs", source_path=evidence_dir, stages=["exif"])
    job_start(job=job)
    finished(job)
    for token, expected in (("", "no API token"), ("isk_wrong", "UNAUTHENTICATED"), (alice.token, "NOT_FOUND")):
        result = ctl(token, "job", str(job.pk))
        assert result.returncode != 0
        assert expected in result.stderr
