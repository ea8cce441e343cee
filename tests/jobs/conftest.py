"""Fixtures of the job tests: evidence trees with every kind of bad input (built by tests/support/evidence_trees.py),
a way to run code as an unprivileged user (root reads everything, so permission tests drop root in a subprocess),
and a Redis server a test may stop."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import PrivateRedis
from tests.support.environment import REPO
from tests.support.evidence_trees import Expected, build_hostile_tree, build_long_paths, source_folder
from tests.support.processes import Unprivileged


@pytest.fixture
def evidence_folder() -> Iterator[Path]:
    with source_folder("evidence-") as root:
        yield root


@pytest.fixture(scope="session")
def hostile_source() -> Iterator[tuple[Path, dict[bytes, Expected]]]:
    """One hostile evidence tree for the whole session; no test may change it (the read-only test makes its own)."""
    with source_folder("hostile-") as root:
        yield root, build_hostile_tree(root)


@pytest.fixture(scope="session")
def long_path_source() -> Iterator[tuple[Path, dict[bytes, Expected]]]:
    with source_folder("long-paths-") as root:
        yield root, build_long_paths(root)


@pytest.fixture(scope="session")
def nobody() -> Unprivileged:
    """User `nobody`, running this virtualenv's interpreter when it can reach it. A virtualenv made from an
    interpreter under a private home (pyenv's under /root) cannot be started by anyone else; the system's Python of
    the same version is used then, with the virtualenv's packages on its path."""
    assert os.geteuid() == 0, "permission tests start as root and drop to nobody"
    entry = pwd.getpwnam("nobody")
    ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    try:
        subprocess.run([sys.executable, "-c", ""], check=True, **ids)
        return Unprivileged(entry.pw_uid, entry.pw_gid, sys.executable, {})
    except PermissionError:
        pass
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/local/bin:/usr/bin")
    assert system, f"nobody cannot start {sys.executable}, and there is no system Python of the same version"
    user = Unprivileged(entry.pw_uid, entry.pw_gid, system, {"PYTHONPATH": sysconfig.get_paths()["purelib"]})
    user.run(["-c", "import django, PIL, magic"], env=dict(os.environ), check=True, cwd=REPO)
    return user


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    data = tmp_path / "redis"
    data.mkdir()
    redis = PrivateRedis(data)
    redis.start()
    yield redis
    redis.process.terminate()
    redis.process.wait(timeout=30)
