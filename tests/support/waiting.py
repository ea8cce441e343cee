"""Synchronising with other processes: on observable state, with a deadline, never on a fixed sleep."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from tests.support.environment import REPO
from tests.support.processes import child_process


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds. This is how tests
    synchronise with workers: on observable state, with a deadline, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        threading.Event().wait(interval)


@contextmanager
def serving(command: list[str], *, env: dict[str, str], log: Path, answers: Callable[[], object], what: str):
    """Run a server's `command` from the repository (its output into `log`) for the block, from the moment
    `answers()` says it serves; fail with its log should it exit before. It gets SIGTERM at the end."""
    with open(log, "wb") as out:
        process = child_process(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or answers(), timeout=60, message=what)
        assert process.poll() is None, log.read_text()
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
