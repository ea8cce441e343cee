"""Fixtures of the web app tests: a sources root with evidence, users, a finished job, and a real browser."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from tests.support.cases import make_case
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, AsgiServer


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
def team(make_user, examiner, other):
    """The members of a case by role (the tests make the case): alice leads, bob examines, carol reviews; dave is in
    no case; erin is staff."""
    return {
        "lead": examiner,
        "examiner": other,
        "reviewer": make_user("carol@example.org"),
        "outsider": make_user("dave@example.org"),
        "staff": make_user("erin@example.org", staff=True),
    }


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


@pytest.fixture
def scan(workers, transactional_db, sources_root):
    """Scan a case folder under SOURCES_ROOT with the real pipeline (in `case`, or in a case of its own) and return
    the finished job."""
    from jobs.lifecycle import job_start
    from jobs.models import Job
    from jobs.services import job_create

    def run(owner, *, name: str = "case", extra: int = 0, case=None) -> Job:
        folder = sources_root / name
        if not folder.exists():
            make_case(folder, extra=extra)
        job = job_create(name=name, source_path=folder, owner=owner, within=sources_root, case=case)
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


@pytest.fixture
def lab(examiner, other, make_user, tmp_path):
    """Case 2024-017 of alice (lead) with carol its reviewer: a job whose images show two persons (4 and 3 faces).
    Case 2024-099 of bob: one person of 3 faces."""
    import numpy as np

    from cases.services import case_create, case_member_set
    from jobs.models import Job
    from jobs.pipeline.persons import persons_run
    from persons.models import FaceAssignment, Person
    from tests.support.persons import faces_of, identities, store_faces

    carol = make_user("carol@example.org")
    case = case_create(reference="2024-017", title="t", owner=examiner)
    case_member_set(case=case, user=carol, role="reviewer")
    ids = identities(3, seed=11)
    rows = np.concatenate([faces_of(ids[0], 4, seed=1), faces_of(ids[1], 3, seed=2)])
    faces = store_faces(case=case, owner=examiner, source=tmp_path, vectors=rows, first=1)
    theirs = case_create(reference="2024-099", title="other", owner=other)
    foreign = store_faces(case=theirs, owner=other, source=tmp_path, vectors=faces_of(ids[2], 3), first=40)
    persons_run(case_id=case.pk)
    persons_run(case_id=theirs.pk)
    big, small = (FaceAssignment.objects.get(face_id=faces[i]).person_id for i in (0, 4))
    return {"case": case, "carol": carol, "faces": faces, "big": big, "small": small, "foreign_faces": foreign,
            "foreign": Person.objects.get(case=theirs).pk, "job": Job.objects.get(case=case)}  # fmt: skip
