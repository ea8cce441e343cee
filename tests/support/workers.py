"""Real `celery worker` processes for the tests, each in a process group of its own so that a test can kill a
worker with its pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.environment import REPO
from tests.support.processes import child_process
from tests.support.waiting import wait_for


class WorkerPool:
    """Real `celery worker` processes against the test database and the test Redis broker."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(
        self, name: str, queues: str = "jobs,exif,faces,classify,pdq", concurrency: int = 2, env: dict | None = None
    ) -> str:
        """Start a worker and wait until it answers a ping. `env` adds to (or overrides) the session environment,
        e.g. another broker or a stage parameter."""
        hostname = f"{name}-{uuid.uuid4().hex[:6]}@localhost"
        with open(self.log_dir / f"{hostname}.log", "wb") as log:  # the worker writes to its own copy
            self.processes[hostname] = child_process(
                [sys.executable, "-m", "celery", "-A", "scanner", "worker", "-Q", queues, "-c", str(concurrency),
                 "-n", hostname, "--without-gossip", "--without-mingle", "-l", "info"],
                env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                start_new_session=True,
            )  # fmt: skip
        wait_for(
            lambda: (
                self.processes[hostname].poll() is not None
                or b"ready." in (self.log_dir / f"{hostname}.log").read_bytes()
            ),
            timeout=60,
            message=f"worker {hostname} to be ready",
        )
        assert self.processes[hostname].poll() is None, self.log(hostname)
        return hostname

    def log(self, hostname: str) -> str:
        return (self.log_dir / f"{hostname}.log").read_text(errors="replace")

    def kill(self, hostname: str, sig: int = signal.SIGKILL) -> None:
        """Kill the worker's whole process group (the main process and its pool children)."""
        process = self.processes.pop(hostname)
        os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def stop(self, hostname: str) -> None:
        """Warm shutdown: the worker finishes what it holds, then exits."""
        process = self.processes.pop(hostname, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for hostname in list(self.processes):
            self.stop(hostname)
