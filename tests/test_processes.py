"""What tests start does not outlive them: a test run killed by SIGKILL (a timeout's, where no teardown runs) takes
its workers with it, and a new run ends what an old run of the same checkout left on its test database."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.support.environment import REPO, SPARE_REDIS_DBS
from tests.support.processes import child_process, leftovers_clear, run_database
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    """Not running: exited (a zombie waits only for its parent to read its status) or never there."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _admin() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres",
                           autocommit=True)  # fmt: skip


def _backends(database: str) -> int:
    with _admin() as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]).fetchone()[0]


def test_a_killed_test_run_takes_its_worker_with_it(tmp_path):
    """pytest runs a test that starts a worker, and is killed with SIGKILL: the worker and its pool die too."""
    pids_file = tmp_path / "pids"
    database = f"{run_database()}_killed"  # a database of its own: this run's is in use
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{database}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[0]}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[1]}",
        "HELD_WORKER_PIDS": str(pids_file),
    }
    log = tmp_path / "pytest.log"
    with open(log, "wb") as out:
        run = child_process(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/holds_a_worker.py"],
            env=env, cwd=REPO, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_for(lambda: run.poll() is not None or pids_file.exists(), timeout=240, message="the worker to start")
        assert run.poll() is None, log.read_text()
        pids = [int(pid) for pid in pids_file.read_text().split()]
        assert len(pids) >= 2, "the worker and its pool"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        wait_for(lambda: all(_gone(pid) for pid in pids), timeout=30, message="the worker's processes to end")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        marker = f"{REPO}:test_{database}"
        leftovers_clear(marker, f"test_{database}")
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "test_{database}"')


def test_a_new_run_ends_what_an_old_run_of_this_checkout_left(tmp_path):
    """Processes marked as an old run's of this checkout, on its test database, are ended with their connections;
    another checkout's are left alone."""
    database = f"{run_database()}_leftover"
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    db = settings.DATABASES["default"]
    holds_a_connection = (
        "import psycopg, sys, threading\n"
        f"conn = psycopg.connect(host={db['HOST']!r}, port={db['PORT'] or 5432}, user={db['USER']!r}, "
        f"dbname={database!r})\n"
        "open(sys.argv[1], 'w').close()\n"
        "threading.Event().wait()\n"
    )
    ours = f"{REPO}:{database}"
    leftovers = []
    try:
        # What a killed run of this checkout left, and a process of another checkout's run on the same machine.
        for marker, name in ((ours, "ours"), (f"/elsewhere/checkout:{database}", "theirs")):
            ready = tmp_path / name
            leftovers.append(child_process([sys.executable, "-c", holds_a_connection, str(ready)], marker=marker))
            wait_for(ready.exists, message=f"{name} to connect")
        assert _backends(database) == 2

        assert leftovers_clear(ours, database) == [leftovers[0].pid]
        leftovers[0].wait(timeout=30)
        assert leftovers[1].poll() is None, "another checkout's process was ended"
        assert _backends(database) == 0
    finally:
        for process in leftovers:
            process.kill()
            process.wait()
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
