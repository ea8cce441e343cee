"""Flower through the web app (`/flower/`), against a real Flower and real workers: staff only, with Flower's
login added by the web app, every operation attributed in the audit log (and a cancelled consumer marked paused,
as the API's PauseQueue does), and what would go around the web app's checks refused."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from api.flower import FORM, FlowerProxy
from api.models import QueuePause
from audit.models import AuditEvent
from scanner.celery import app
from tests.support.environment import free_port
from tests.support.waiting import serving, wait_for
from tests.support.web import screenshot, sign_in_browser, status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LOGIN = "ops:flower-s3cret"
SAME_SITE = {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}


@pytest.fixture(scope="module")
def flower(worker_env, tmp_path_factory) -> Iterator[str]:
    """A real Flower, as `make up` starts it (under /flower, with a basic login): its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "celery", "-A", "scanner", "flower", "--address=127.0.0.1", f"--port={port}",
         "--url_prefix=flower", f"--basic-auth={LOGIN}"],
        env=worker_env,
        log=tmp_path_factory.mktemp("flower") / "flower.log",
        answers=lambda: status(f"{url}/flower/healthcheck") == 200,
        what="Flower to answer",
    ):  # fmt: skip
        yield url


@pytest.fixture
def through_web(flower, settings):
    settings.FLOWER_URL = flower
    settings.FLOWER_BASIC_AUTH = LOGIN
    return flower


@pytest.fixture
def staff(make_user):
    return make_user("ops@example.org", staff=True)


def flower_events():
    """The audit log without the sign-ins of the test's clients."""
    return AuditEvent.objects.exclude(action="sign-in")


def consumed(hostname: str) -> set[str]:
    answer = app.control.inspect(destination=[hostname], timeout=2).active_queues() or {}
    return {q["name"] for q in answer.get(hostname, [])}


def post(client, path: str, data: dict[str, str], **headers: str):
    """POST a form, as Flower's scripts do."""
    return client.post(path, urlencode(data), content_type=FORM, **headers)


def known_to_flower(web, hostname: str) -> bool:
    """Whether Flower lists the worker (asking it to refresh its list from the workers)."""
    response = web.get("/flower/api/workers", {"refresh": "1"})
    assert response.status_code == 200, response.content
    return hostname in json.loads(response.content)


def test_staff_reach_flower_through_the_web_app_and_no_one_else(through_web, workers, staff, examiner, client_for):
    assert status(f"{through_web}/flower/workers") == 401  # Flower itself asks for its login
    hostname = next(iter(workers.processes))
    web = client_for(staff)
    page = web.get("/flower/workers")
    assert page.status_code == 200
    assert b"Flower" in page.content
    assert not page.cookies  # Flower's own cookies stay with Flower
    assert wait_for(lambda: known_to_flower(web, hostname), timeout=30, message="Flower to list the worker")
    assert not flower_events().exists()  # looking is not recorded

    refused = client_for(examiner).get("/flower/workers")
    assert refused.status_code == 403
    event = flower_events().get()
    assert (event.action, event.outcome, event.user_id, event.via) == (
        "flower.view",
        AuditEvent.Outcome.REFUSED,
        examiner.pk,
        AuditEvent.Via.WEB,
    )
    assert "staff only" in event.detail


def test_a_queue_cancelled_in_flower_is_paused_attributed_and_resumed(through_web, spawn, staff, client_for):
    hostname = spawn("flower", queues="probe,exif", concurrency=1)
    web = client_for(staff)
    wait_for(lambda: known_to_flower(web, hostname), timeout=30, message="Flower to list the worker")

    cancel = post(web, f"/flower/api/worker/queue/cancel-consumer/{hostname}", {"queue": "exif"}, **SAME_SITE)
    assert cancel.status_code == 200, cancel.content
    assert consumed(hostname) == {"probe"}
    paused = AuditEvent.objects.get(action="queue.pause")
    assert (paused.outcome, paused.user_id, paused.target, paused.data) == (
        AuditEvent.Outcome.OK,
        staff.pk,
        f"exif on {hostname}",
        {"queue": "exif", "workers": [hostname]},
    )
    assert QueuePause.objects.filter(worker=hostname, queue="exif", paused_by=staff).exists()

    add = post(web, f"/flower/api/worker/queue/add-consumer/{hostname}", {"queue": " exif "}, **SAME_SITE)
    assert add.status_code == 200, add.content
    assert consumed(hostname) == {"probe", "exif"}
    assert AuditEvent.objects.get(action="queue.resume").user_id == staff.pk
    assert not QueuePause.objects.filter(worker=hostname).exists()

    limit = {"workername": hostname, "ratelimit": "100/m"}
    limited = post(web, "/flower/api/task/rate-limit/jobs.tasks.batch_finish", limit, **SAME_SITE)
    assert limited.status_code == 200, limited.content
    assert flower_events().get(action="task.rate_limit").data == {"parameters": limit}  # the worker included

    unknown = post(web, "/flower/api/worker/pool/grow/nobody@nowhere", {"n": "1"}, **SAME_SITE)
    assert unknown.status_code == 404
    failed = AuditEvent.objects.get(action="worker.concurrency")
    assert (failed.outcome, failed.target, failed.detail, failed.data) == (
        AuditEvent.Outcome.FAILED,
        "nobody@nowhere",
        "Flower worker/pool/grow: HTTP 404",
        {"parameters": {"n": "1"}},
    )


def test_what_would_go_around_the_checks_is_refused_and_recorded(through_web, spawn, staff, examiner, client_for):
    hostname = spawn("flower", queues="probe,exif", concurrency=1)
    web = client_for(staff)
    wait_for(lambda: known_to_flower(web, hostname), timeout=30, message="Flower to list the worker")
    cancel = f"/flower/api/worker/queue/cancel-consumer/{hostname}"
    form = urlencode({"queue": "exif"})
    refusals = [
        (web, cancel, form, FORM, {}),  # no Origin: not from this site's pages
        (web, cancel, form, FORM, {"HTTP_ORIGIN": "https://evil.example"}),
        (web, cancel, form, FORM, {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "cross-site"}),
        (client_for(examiner), cancel, form, FORM, SAME_SITE),
        # parameters Django and Flower might read differently: in the query, or in a body of another type
        (web, f"{cancel}?queue=probe", form, FORM, SAME_SITE),
        (web, cancel, form, FORM.upper(), SAME_SITE),
        # a task of the caller's choosing, asked for plainly or behind an allowed operation's path
        (web, "/flower/api/task/async-apply/jobs.tasks.batch_finish", "{}", "application/json", SAME_SITE),
        (web, "/flower/api/worker/shutdown/../../task/apply/jobs.tasks.batch_finish", "{}", FORM, SAME_SITE),
        (web, "/flower/api/worker/shutdown/%2e%2e/%2e%2e/task/send-task/x", "", FORM, SAME_SITE),
        (web, "/flower/api/task/revoke/..%2F..%2Fworker%2Fshutdown%2F" + hostname, "", FORM, SAME_SITE),
    ]
    for client, path, body, content_type, headers in refusals:
        refused = client.post(path, body, content_type=content_type, **headers)
        assert refused.status_code == 403, (path, headers)
    assert web.get("/flower/tasks/../../metrics").status_code == 403  # out of Flower's prefix
    assert consumed(hostname) == {"probe", "exif"}  # nothing reached the worker
    events = list(flower_events().order_by("id").values_list("action", "outcome", "target"))
    assert events == [
        *[("queue.pause", AuditEvent.Outcome.REFUSED, f"exif on {hostname}")] * 6,
        ("flower.change", AuditEvent.Outcome.REFUSED, "api/task/async-apply/jobs.tasks.batch_finish"),
        ("flower.change", AuditEvent.Outcome.REFUSED, "api/worker/shutdown/../../task/apply/jobs.tasks.batch_finish"),
        ("flower.change", AuditEvent.Outcome.REFUSED, "api/worker/shutdown/../../task/send-task/x"),
        ("flower.change", AuditEvent.Outcome.REFUSED, f"api/task/revoke/../../worker/shutdown/{hostname}"),
        ("flower.view", AuditEvent.Outcome.REFUSED, "tasks/../../metrics"),
    ]


def test_flower_is_given_none_of_the_browser_s_credentials(rf, settings):
    settings.FLOWER_BASIC_AUTH = LOGIN
    view = FlowerProxy()
    view.request = rf.post(
        "/flower/api/worker/shutdown/w@h",
        HTTP_COOKIE="sessionid=s3cret; csrftoken=t0ken",
        HTTP_AUTHORIZATION="Bearer isk_x",
        HTTP_X_CSRFTOKEN="t0ken",
        HTTP_ORIGIN="http://testserver",
        HTTP_ACCEPT="application/json",
    )
    assert view.get_request_headers() == {
        "Accept": "application/json",
        "Content-Type": "multipart/form-data; boundary=BoUnDaRyStRiNg",
        "Authorization": "Basic b3BzOmZsb3dlci1zM2NyZXQ=",  # ops:flower-s3cret
    }


def test_flower_away_or_not_set_up(staff, client_for, settings):
    web = client_for(staff)
    settings.FLOWER_URL = ""
    assert web.get("/flower/workers").status_code == 404
    settings.FLOWER_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    away = web.get("/flower/workers")
    assert away.status_code == 502
    assert b"Flower does not answer" in away.content
    with socket.socket() as silent:  # takes the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.FLOWER_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.FLOWER_TIMEOUT = 0.5
        hung = web.get("/flower/workers")
    assert hung.status_code == 502
    assert b"Flower does not answer" in hung.content


def test_staff_pause_a_queue_in_flower_in_the_browser_and_it_is_recorded(
    flower, spawn, asgi_server, make_user, transactional_db, page
):
    server = asgi_server(FLOWER_URL=flower, FLOWER_BASIC_AUTH=LOGIN)
    hostname = spawn("flower", queues="probe,exif", concurrency=1)
    staff = make_user("lead@example.org", staff=True)
    sign_in_browser(page.context, server, staff)
    page.goto(f"{server.url}/jobs/")
    page.get_by_role("link", name="Workers").click()
    assert page.url == f"{server.url}/flower/"
    # Flower's own table, filled by its scripts through /flower/ (it may take a refresh to see a new worker)
    worker = page.get_by_role("link", name=hostname)

    def listed() -> bool:
        page.locator("#workers-table tbody a").first.wait_for()  # the table has loaded (the session's worker)
        if worker.count():
            return True
        page.reload()
        return False

    wait_for(listed, timeout=30, interval=1, message="Flower to list the worker")
    screenshot(page, "flower-through-the-web-app")

    worker.click()
    page.get_by_role("tab", name="Queues").click()
    page.locator("#worker-cancel-consumer-exif").click()
    assert "no longer consuming from exif" in page.locator(".toast.text-bg-success").inner_text()
    wait_for(lambda: consumed(hostname) == {"probe"}, timeout=30, message="the worker to stop consuming exif")
    paused = flower_events().get(action="queue.pause")
    assert (paused.outcome, paused.user_id, paused.target, paused.via, paused.data) == (
        AuditEvent.Outcome.OK,
        staff.pk,
        f"exif on {hostname}",
        AuditEvent.Via.WEB,
        {"queue": "exif", "workers": [hostname]},
    )

    page.get_by_role("link", name="Tasks").click()  # its table is read with POSTs, which the web app passes on
    page.locator("#tasks-table_info").wait_for()
    assert not flower_events().filter(outcome=AuditEvent.Outcome.REFUSED).exists()
