"""A broker of a test's own, which the test may stop and start again (the shared Redis is never stopped)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.environment import free_port
from tests.support.processes import child_process
from tests.support.waiting import wait_for


class PrivateRedis:
    """A redis-server of the test's own, which the test may stop and start again: the shared Redis is never stopped.
    It keeps its data across a restart (append-only file, synced on every write), as a broker must."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data),
                        "--save", "", "--appendonly", "yes", "--appendfsync", "always"]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def answers(self) -> bool:
        ping = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True)
        return ping.stdout.strip() == b"PONG"

    def start(self) -> None:
        self.process = child_process(self.command, stdout=subprocess.DEVNULL)
        wait_for(self.answers, message=f"redis on port {self.port} to answer")

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True)
        self.process.wait(timeout=30)
