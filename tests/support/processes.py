"""Processes the tests start (workers, servers, redis-servers, CLI runs), which must not outlive the test run.

Every such process is started through `child_process` or `child_run`: the kernel kills it as soon as the process
that started it dies (PR_SET_PDEATHSIG), even when that is by SIGKILL, where no teardown runs. The signal follows
the death of the *thread* that forked, so tests start processes from pytest's main thread (fixtures and tests
run there). Each process also carries RUN_MARKER in its environment, and so do the processes it starts in turn
(a worker's pool), naming this checkout and this run's test database: a new run finds by it what an old run of
the same checkout left (e.g. pool processes of a killed worker) and ends it, never another checkout's processes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.environment import REPO

RUN_MARKER = "SCANNER_TEST_RUN"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@functools.cache
def run_database() -> str:
    """The name of this run's test database, from the configured one. Cached from the first call, made before
    the test database is set up (tests.conftest): setting it up renames the configured database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"


def run_marker() -> str:
    """This checkout and this run's test database: what tells this run's processes from other checkouts'."""
    return f"{REPO}:{run_database()}"


def _die_with_parent() -> None:
    """Runs in the child between fork and exec."""
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _options(env: dict[str, str] | None, marker: str | None, kwargs: dict) -> dict:
    assert "preexec_fn" not in kwargs, "child processes die with the test run: no other preexec_fn"
    return {**kwargs, "env": {**(os.environ if env is None else env), RUN_MARKER: marker or run_marker()},
            "preexec_fn": _die_with_parent}  # fmt: skip


def child_process(
    args: list[str], *, env: dict[str, str] | None = None, marker: str | None = None, **kwargs
) -> subprocess.Popen:
    """subprocess.Popen for a process that dies with the test run and is marked as this run's (or, for the tests
    of the clean-up, as the run `marker` names)."""
    return subprocess.Popen(args, **_options(env, marker, kwargs))


def child_run(args: list[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run for a process that dies with the test run and is marked as this run's."""
    return subprocess.run(args, **_options(env, None, kwargs))


def marked_processes(marker: str) -> list[int]:
    """The pids of the processes whose environment carries `marker` (this one and its ancestors excluded)."""
    spared = {os.getpid()}
    pid = os.getppid()
    while pid > 1:
        spared.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    wanted = f"{RUN_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def leftovers_clear(marker: str, database: str) -> list[int]:
    """End what an earlier, killed run of this checkout left: its processes (found by `marker`), then every
    connection still open on its test `database` (so that the database can be dropped). Returns the pids killed."""
    import psycopg
    from django.conf import settings

    killed = []
    for pid in marked_processes(marker):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    db = settings.DATABASES["default"]
    params = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
    return killed


@dataclass(frozen=True)
class Unprivileged:
    """A user without privileges, and a Python interpreter with this project's packages that the user can start."""

    uid: int
    gid: int
    python: str
    env: dict[str, str]

    def run(self, args: list[str], *, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
        """Run `python ARGS` as this user (no supplementary groups: root's would leak group permissions)."""
        return child_run(
            [self.python, *args], env={**env, **self.env}, user=self.uid, group=self.gid, extra_groups=[], **kwargs
        )
