"""Fixtures of the web app tests: a sources root with evidence, users, a finished job, and a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from jobs.samples import Gps, exif_bytes, make_sample_tree, write_photo
from tests.support.environment import REPO
from tests.support.processes import child_process
from tests.support.waiting import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "a long enough passphrase 42"


@pytest.fixture
def sources_root(settings) -> Iterator[Path]:
    """SOURCES_ROOT for the test: a world-traversable folder (workers may run as another user), removed after."""
    root = Path(tempfile.mkdtemp(prefix="sources-", dir=os.environ.get("EVIDENCE_TMP")))
    root.chmod(0o755)
    settings.SOURCES_ROOT = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def thumbnails_root(settings, tmp_path) -> Path:
    settings.THUMBNAILS_ROOT = tmp_path / "thumbnails"
    return settings.THUMBNAILS_ROOT


def store_ml_results(job, *, faces: dict[int, int] | None = None, tags: dict[int, list[str]] | None = None) -> None:
    """Store what the faces and classify stages would have found, at the versions the job ran (without ML workers):
    `faces` is image id -> how many faces (0: analysed, none found), `tags` is image id -> labels, best first. Each
    face's crop is b"crop <image id> <index>"."""
    from content.services import stage_results_save
    from extractors.base import ItemResult, Outcome, Provenance
    from extractors.classify import ClassifyResult, Tag
    from extractors.faces import DetectedFace, FacesResult

    versions = job.run_config.versions
    embedding = bytes(4 * 512)
    landmarks = ((1.0, 1.0), (3.0, 1.0), (2.0, 2.0), (1.0, 3.0), (3.0, 3.0))
    found = [
        ItemResult(
            image_id,
            Outcome.DONE,
            FacesResult(
                tuple(
                    DetectedFace(8.0 * i, 4.0, 6.0, 6.0, 0.9, landmarks, embedding, f"crop {image_id} {i}".encode())
                    for i in range(count)
                )
            ),
        )
        for image_id, count in (faces or {}).items()
    ]
    stage_results_save(provenance=Provenance(stage="faces", version=versions["faces"]), results=found)
    classified = [
        ItemResult(
            image_id,
            Outcome.DONE,
            ClassifyResult(tags=tuple(Tag(label, 0.9 - i / 10) for i, label in enumerate(labels)), embedding=bytes(16)),
        )
        for image_id, labels in (tags or {}).items()
    ]
    stage_results_save(provenance=Provenance(stage="classify", version=versions["classify"]), results=classified)


def make_case(root: Path, extra: int = 0) -> dict[str, int]:
    """The sample evidence tree, plus `extra` small photos (every third with a GPS position) so that the gallery
    has several pages."""
    expected = make_sample_tree(root)
    for i in range(extra):
        gps = Gps(48.8584 + i / 1000, 2.2945 - i / 1000) if i % 3 == 0 else None
        exif = exif_bytes(make="Nikon", model="D750", taken=f"2022:0{i % 9 + 1}:1{i % 10} 08:00:00", gps=gps)
        write_photo(root / "bulk" / f"photo-{i:03d}.jpg", width=64 + (i % 5) * 16, height=48, seed=1000 + i, exif=exif)
    return {**expected, "files": expected["files"] + extra, "distinct": expected["distinct"] + extra}


@pytest.fixture
def make_user(db):
    def make(email: str, *, staff: bool = False, superuser: bool = False, password: str = PASSWORD):
        user = get_user_model().objects.create_user(
            username=email.split("@")[0], email=email, password=password, is_staff=staff, is_superuser=superuser
        )
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
        return user

    return make


@pytest.fixture
def examiner(make_user):
    return make_user("alice@example.org")


@pytest.fixture
def other(make_user):
    return make_user("bob@example.org")


@pytest.fixture
def browser(monkeypatch) -> Iterator:
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()
        # With Playwright's loop running in this thread, Django keeps the test's ORM calls on a connection of their
        # own; close it here, or the test database cannot be dropped at the end of the session.
        connections.close_all()


@pytest.fixture
def page(browser):
    """A browser tab. Every Content-Security-Policy violation it reports fails the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not violations, violations


def screenshot(page, name: str) -> Path:
    """Save what the browser shows as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture
def scan(workers, transactional_db, sources_root):
    """Scan a case folder under SOURCES_ROOT with the real pipeline and return the finished job."""
    from jobs.lifecycle import job_start
    from jobs.models import Job
    from jobs.services import job_create

    def run(owner, *, name: str = "case", extra: int = 0) -> Job:
        folder = sources_root / name
        if not folder.exists():
            make_case(folder, extra=extra)
        job = job_create(name=name, source_path=folder, owner=owner, within=sources_root)
        job_start(job=job)
        wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINAL).exists(), timeout=120, message="the scan")
        job.refresh_from_db()
        assert job.status == Job.Status.COMPLETED, job.error
        return job

    return run


@pytest.fixture
def client_for(client) -> Iterator:
    """A fresh signed-in test client per user. Every response it gave is closed when the test ends: a file response
    that a test only looked at the headers of would otherwise hold its file open until the garbage collector
    finds it, in whichever test that happens."""
    from django.test import Client

    given = []

    class ClosingClient(Client):
        def request(self, **request):
            response = super().request(**request)
            given.append(response)
            return response

    def make(user) -> Client:
        c = ClosingClient()
        c.force_login(user)
        return c

    yield make
    for response in given:
        response.close()


class AsgiServer:
    """The web process as `make up` runs it (daphne serving scanner.asgi), on the test database and the test
    channel layer, so a test can stop and start it like an operator would."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://localhost:{self.port}"
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = child_process(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "scanner.asgi:application"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        wait_for(self._answers, timeout=60, interval=0.1, message="the web server to answer")

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text(errors="replace")
        try:
            urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2).close()  # noqa: S310 - local server
        except (urllib.error.URLError, ConnectionError):
            return False
        return True

    def kill(self) -> None:
        """Stop the server at once, as a crash or a redeploy would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def asgi_server(worker_env, sources_root, thumbnails_root, tmp_path) -> Iterator:
    """start(**env) runs the web server with the test's sources and thumbnails folders, plus `env` (settings the
    test changes for the web process: it reads them from its environment, as in production)."""
    servers: list[AsgiServer] = []

    def start(**env: str) -> AsgiServer:
        environment = {
            **worker_env,
            "DATABASE_POOL": "true",  # as the Procfile and docker-compose.yml run it
            "SOURCES_ROOT": str(sources_root),
            "THUMBNAILS_ROOT": str(thumbnails_root),
            **env,
        }
        server = AsgiServer(environment, tmp_path / f"daphne-{len(servers)}.log")
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.kill()


def session_key(user) -> str:
    """The session cookie's value for a user signed in without the sign-in form (tested elsewhere)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def sign_in_browser(context, server: AsgiServer, user) -> None:
    """Give the browser the session of a signed-in user."""
    from django.conf import settings

    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session_key(user),
                "url": server.url,
                "secure": True,
                "httpOnly": True,
            }
        ]
    )
