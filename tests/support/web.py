"""The web app as the tests reach it: the web process run as `make up` runs it, signed-in sessions without the
sign-in form, a browser's screenshots, and what a URL answers."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from django.urls import reverse

from jobs.models import FileInstance, Job, JobImage
from tests.support.environment import REPO
from tests.support.processes import child_process
from tests.support.waiting import wait_for

ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "a long enough passphrase 42"


def screenshot(page, name: str) -> Path:
    """Save what the browser shows as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def status(url: str, auth: str = "") -> int:
    request = urllib.request.Request(url)  # noqa: S310 - a loopback http URL built by the test
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - see above
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


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


def job_urls(job: Job) -> dict[str, list[str]]:
    """Every route that shows or changes something of the job, by method."""
    image_id = JobImage.objects.filter(job=job).values_list("image_id", flat=True).first()
    image_file = FileInstance.objects.filter(job=job, status="image").first()
    error_file = FileInstance.objects.filter(job=job, status="error").first()
    j = job.pk
    get = [
        reverse("jobs:detail", args=[j]),
        reverse("jobs:progress", args=[j]),
        reverse("jobs:gallery", args=[j]),
        reverse("jobs:gallery_more", args=[j]) + "?sort=size",
        reverse("jobs:gallery_options", args=[j]),
        reverse("jobs:map", args=[j]),
        reverse("jobs:map_points", args=[j]),
        reverse("jobs:image", args=[j, image_id]),
        reverse("jobs:thumb", args=[j, image_id]),
        reverse("jobs:preview", args=[j, image_id]),
        reverse("jobs:review_decisions", args=[j]) + f"?ids={image_id}",
        reverse("jobs:review_group", args=[j, image_id]),
        reverse("jobs:image_similar", args=[j, image_id]),
        reverse("jobs:original", args=[j, image_file.pk]),
        reverse("jobs:original", args=[j, image_file.pk]) + "?download=1",
        reverse("jobs:original", args=[j, error_file.pk]) + "?download=1",
        reverse("jobs:export", args=[j, "case"]),
    ]
    change = [
        reverse("jobs:start", args=[j]),
        reverse("jobs:cancel", args=[j]),
        reverse("jobs:rerun", args=[j]),
        reverse("jobs:delete", args=[j]),
    ]
    share = [reverse("jobs:share", args=[j]), reverse("jobs:unshare", args=[j, job.owner_id])]
    return {"get": get, "change": change, "share": share}
