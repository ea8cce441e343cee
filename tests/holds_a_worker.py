"""Not collected by the suite (no test_ prefix): tests/test_processes.py runs it in a pytest of its own, which it
then kills. Its one test starts the session's worker, writes the pids of the worker's processes, and waits."""

import os
import threading
from pathlib import Path


def test_holds_a_worker(workers):
    (process,) = workers.processes.values()
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    Path(os.environ["HELD_WORKER_PIDS"]).write_text(" ".join([str(process.pid), *children]))
    threading.Event().wait()  # until the test run is killed
