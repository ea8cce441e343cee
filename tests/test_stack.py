"""`make up`'s process set (the Procfile under honcho) really runs: web, a worker per queue, Flower (asking for its
login, and shown to staff through the web app) and the gRPC API (over TLS), and a scan queued from the CLI
completes on it."""

import http.client
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from jobs.models import Job
from jobs.samples import make_sample_tree
from tests.support.environment import REPO, SPARE_REDIS_DBS, free_port
from tests.support.grpc import grpc_serving, self_signed_cert
from tests.support.processes import child_process, child_run
from tests.support.waiting import serving, wait_for
from tests.support.web import session_key, status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def page_as(url: str, user) -> tuple[str, bytes]:
    """Where a GET of `url` with `user`'s session ends (after any redirect), and what it shows."""
    request = urllib.request.Request(url)  # noqa: S310 - a loopback http URL built by the test
    request.add_header("Cookie", f"{settings.SESSION_COOKIE_NAME}={session_key(user)}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - see above
        return response.url, response.read()


def test_procfile_stack_serves_and_scans(transactional_db, worker_env, evidence_dir, tmp_path):
    web, flower, grpc_port = free_port(), free_port(), free_port()
    cert, key = self_signed_cert(tmp_path)
    env = {
        **worker_env,
        "DJANGO_SETTINGS_MODULE": "scanner.settings.distributed",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[0]}",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[0]}",
        "WEB_PORT": str(web),
        "FLOWER_PORT": str(flower),
        "FLOWER_BASIC_AUTH": "examiner:s3cret-flower",
        "WORKER_EXIF_CONCURRENCY": "2",
        "GRPC_PORT": str(grpc_port),
        "GRPC_TLS_CERT": str(cert),
        "GRPC_TLS_KEY": str(key),
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    subprocess.run(["redis-cli", "-n", str(SPARE_REDIS_DBS[0]), "flushdb"], check=True, capture_output=True)
    log = tmp_path / "honcho.log"
    no_dotenv = tmp_path / "empty.env"  # honcho would otherwise read a developer's .env over this environment
    no_dotenv.write_text("")
    with open(log, "wb") as out:
        stack = child_process(
            [str(REPO / ".venv" / "bin" / "honcho"), "-f", "Procfile", "-e", str(no_dotenv), "start"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: log.read_text().count(" ready.") >= 4, timeout=90, message="four workers ready")
        wait_for(lambda: status(f"http://127.0.0.1:{web}/admin/login/") == 200, timeout=60, message="web up")
        wait_for(lambda: status(f"http://127.0.0.1:{flower}/flower/") == 401, timeout=60, message="Flower's login")
        assert status(f"http://127.0.0.1:{flower}/flower/", auth="examiner:s3cret-flower") == 200
        staff = get_user_model().objects.create_user(username="ops", email="ops@example.org", is_staff=True)
        url, shown = page_as(f"http://127.0.0.1:{web}/flower/workers", staff)
        assert url == f"http://127.0.0.1:{web}/flower/workers"
        assert b"/flower/static/js/flower.js" in shown  # Flower's own page, under the prefix the web app gives it
        wait_for(lambda: grpc_serving(f"localhost:{grpc_port}", ca=cert.read_bytes()), timeout=60, message="gRPC up")

        expected = make_sample_tree(evidence_dir)
        scan = child_run(
            [sys.executable, "manage.py", "scan", str(evidence_dir), "--name", "stack", "--stages", "exif"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert scan.returncode == 0, scan.stdout + scan.stderr
        job = Job.objects.get(name="stack")
        assert job.status == Job.Status.COMPLETED
        assert job.files_seen == expected["files"]
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(timeout=60)


def test_make_up_env_serves_the_sign_in_page_over_plain_http_on_loopback(transactional_db, worker_env, tmp_path):
    """The .env `make up` writes from .env.example (its database and Redis pointed at the test's) makes the
    distributed web process answer on http://127.0.0.1 itself: a 200, no redirect to https, no HSTS, and a CSRF
    cookie a plain-HTTP page can send back (the sign-in form needs it)."""
    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    subprocess.run(
        ["make", "-s", "-C", str(tmp_path), "-f", str(REPO / "Makefile"), f"PY={sys.executable}", ".env"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    test_addresses = {
        "DATABASE_URL": worker_env["DATABASE_URL"],
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[0]}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{SPARE_REDIS_DBS[0]}",
        "WEB_PORT": str(port),
    }
    lines = [line for line in (tmp_path / ".env").read_text().splitlines() if line.split("=")[0] not in test_addresses]
    (tmp_path / ".env").write_text("\n".join([*lines, *(f"{k}={v}" for k, v in test_addresses.items())]) + "\n")
    # Only what a developer's shell has: nothing of the test settings' own environment.
    env = {"PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/root")}
    honcho = [str(REPO / ".venv" / "bin" / "honcho"), "-f", "Procfile", "-e", str(tmp_path / ".env"), "start", "web"]

    def sign_in_page() -> http.client.HTTPResponse | None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/accounts/login/")
            response = connection.getresponse()
            response.read()
            return response
        except OSError:
            return None
        finally:
            connection.close()

    with serving(honcho, env=env, log=tmp_path / "web.log", answers=sign_in_page, what="web up"):
        response = sign_in_page()
    assert response.status == 200, (response.status, response.getheader("Location"))
    assert response.getheader("Strict-Transport-Security") is None
    cookies = response.headers.get_all("Set-Cookie")
    assert any(c.startswith(f"{settings.CSRF_COOKIE_NAME}=") for c in cookies), cookies
    assert not any("secure" in c.lower().split("; ") for c in cookies), cookies
