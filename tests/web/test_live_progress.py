"""Live progress over the real ASGI application: session authentication on the socket, access checked on connect,
a snapshot equal to the database, deltas from real workers through the Redis channel layer, and a publisher that
coalesces."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from celery import signature
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.urls import reverse

from accounts.services import user_delete, user_set_active
from audit.models import AuditEvent
from cases.models import Case, CaseMember
from cases.services import case_create
from jobs import canvas
from jobs.lifecycle import job_start
from jobs.models import Job, StageProgress
from jobs.pipeline import scanning
from jobs.progress import consumers
from jobs.progress.publisher import ProgressPublisher, job_group
from jobs.progress.snapshot import job_progress_snapshot, progress_event
from jobs.samples import make_sample_tree
from jobs.services import job_create, job_share, job_unshare
from review.signals import review_changed
from tests.support.cases import make_case
from tests.support.sockets import connect, headers_for

pytestmark = [pytest.mark.integration]


def run(coroutine_function, *args):
    return async_to_sync(coroutine_function)(*args)


@pytest.fixture
def idle_job(transactional_db, evidence_dir, examiner):
    make_sample_tree(evidence_dir)
    return job_create(name="case", source_path=evidence_dir, owner=examiner)


def test_an_anonymous_socket_is_refused(idle_job):
    anonymous = headers_for(None)

    async def scenario():
        for path in ("/ws/jobs/", f"/ws/jobs/{idle_job.pk}/"):
            communicator, connected = await connect(path, anonymous)
            assert not connected, path
            await communicator.disconnect()

    run(scenario)


def test_another_users_job_is_refused_and_a_foreign_origin_too(idle_job, other, examiner):
    theirs, mine = headers_for(other), headers_for(examiner)
    foreign = headers_for(examiner, origin=b"https://attacker.example")

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", theirs)
        assert not connected
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk + 1000}/", mine)
        assert not connected  # no such job: the same refusal
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", foreign)
        assert not connected
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", mine)
        assert connected  # the same socket, as the owner from the site itself
        await communicator.disconnect()

    run(scenario)


def test_a_page_on_another_port_or_scheme_of_the_same_host_is_refused(idle_job, examiner, settings):
    """The origin is scheme, host and port: a page another local server serves (the same host name, another port)
    cannot read a signed-in user's job; the site itself, and an origin named in CSRF_TRUSTED_ORIGINS, can."""
    settings.ALLOWED_HOSTS = ["127.0.0.1", "scanner.lab.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://scanner.lab.example"]
    path = f"/ws/jobs/{idle_job.pk}/"
    site = b"127.0.0.1:8000"
    refused = [
        headers_for(examiner, origin=b"http://127.0.0.1:9999", host=site),
        headers_for(examiner, origin=b"http://127.0.0.1", host=site),
        headers_for(examiner, origin=b"https://127.0.0.1:8000", host=site),  # the socket is plain ws
        [h for h in headers_for(examiner, origin=b"http://127.0.0.1:8000") if h[0] != b"host"],
        headers_for(examiner, origin=b"http://evil.example:8000", host=b"evil.example:8000"),  # not an allowed host
        headers_for(examiner, origin=b"http://scanner.lab.example", host=site),  # trusted over https only
    ]
    allowed = [
        headers_for(examiner, origin=b"http://127.0.0.1:8000", host=site),
        headers_for(examiner, origin=b"https://scanner.lab.example", host=site),
    ]

    async def scenario():
        for headers in refused:
            communicator, connected = await connect(path, headers)
            assert not connected, headers[:2]
            await communicator.disconnect()
        for headers in allowed:
            communicator, connected = await connect(path, headers)
            assert connected, headers[:2]
            assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
            await communicator.disconnect()

    run(scenario)


async def _closed_and_deaf(communicator: WebsocketCommunicator, job_id: int) -> None:
    """The socket was closed by the server, and an event of the job sent afterwards does not reach it."""
    assert (await communicator.receive_output(timeout=10))["type"] == "websocket.close"
    await get_channel_layer().group_send(
        job_group(job_id), {"type": "job.progress", "event": {"type": "progress", "job": job_id}}
    )
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


@pytest.mark.parametrize("revoke", ["unshare", "deactivate", "delete"])
def test_a_revoked_user_s_sockets_close_and_hear_nothing_more(idle_job, other, make_user, revoke):
    """Removing a share, deactivating or deleting the user: their open sockets on the job close, and the jobs-list
    socket no longer forwards its events."""
    job_share(job=idle_job, user=other, role="reviewer")
    staff = make_user("staff@example.org", staff=True)
    theirs = headers_for(other)

    async def open_both():
        job_socket, connected = await connect(f"/ws/jobs/{idle_job.pk}/", theirs)
        assert connected
        assert (await job_socket.receive_json_from(timeout=10))["type"] == "snapshot"
        list_socket, connected = await connect("/ws/jobs/", theirs)
        assert connected
        await list_socket.send_json_to({"watch": {str(idle_job.pk): "completed"}})  # not as shown: a snapshot
        assert (await list_socket.receive_json_from(timeout=10))["type"] == "snapshot"
        await get_channel_layer().group_send(
            job_group(idle_job.pk), {"type": "job.progress", "event": {"type": "progress", "job": idle_job.pk}}
        )
        assert (await list_socket.receive_json_from(timeout=10))["type"] == "progress"  # followed until then
        assert (await job_socket.receive_json_from(timeout=10))["type"] == "progress"
        return job_socket, list_socket

    async def scenario():
        job_socket, list_socket = await open_both()
        if revoke == "unshare":
            await database_sync_to_async(job_unshare)(job=idle_job, user_id=other.pk)
        elif revoke == "deactivate":
            await database_sync_to_async(user_set_active)(user=other, active=False, by=staff)
        else:
            await database_sync_to_async(user_delete)(user=other, by=staff)
        await _closed_and_deaf(job_socket, idle_job.pk)
        if revoke == "unshare":  # still signed in: the list stays open, without the job
            await get_channel_layer().group_send(
                job_group(idle_job.pk), {"type": "job.progress", "event": {"type": "progress", "job": idle_job.pk}}
            )
            assert await list_socket.receive_nothing(timeout=0.5)
            await list_socket.disconnect()
        else:
            await _closed_and_deaf(list_socket, idle_job.pk)

    run(scenario)


def test_a_socket_whose_access_cannot_be_checked_closes(idle_job, examiner, monkeypatch, mocker):
    """Fail closed: when the check due before an event cannot be made (the database unreachable), the socket closes
    instead of forwarding the event."""
    monkeypatch.setattr(consumers, "ACCESS_CHECK_MAX_AGE", 0.0)
    mine = headers_for(examiner)

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", mine)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
        mocker.patch.object(consumers, "_may_view", autospec=True, side_effect=OperationalError("server closed"))
        await get_channel_layer().group_send(
            job_group(idle_job.pk), {"type": "job.progress", "event": {"type": "progress", "job": idle_job.pk}}
        )
        assert (await communicator.receive_output(timeout=10))["type"] == "websocket.close"
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run(scenario)


def _admin_form(user, **changes) -> dict:
    """What the Django admin's user form posts for `user`, with `changes`."""
    fields = {
        "username": user.username, "email": user.email, "first_name": "", "last_name": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "is_active": user.is_active, "is_staff": user.is_staff, "is_superuser": user.is_superuser,
    }  # fmt: skip
    fields.update(changes)
    return {name: ("on" if value is True else value) for name, value in fields.items() if value is not False}


@pytest.mark.parametrize("change", ["deactivate", "unstaff", "delete"])
def test_a_user_changed_in_the_django_admin_loses_their_sockets_too(idle_job, make_user, client_for, change):
    """Deactivating a user, removing their staff rights or deleting them in the Django admin closes their open
    socket on a job they could see only by the removed right, as the users page does; a deleted user's jobs pass to
    the admin who deleted them."""
    boss = make_user("boss@example.org", staff=True, superuser=True)
    staff = make_user("staff@example.org", staff=True)
    theirs_job = job_create(name="theirs", source_path=idle_job.source_path, owner=staff)
    admin, theirs = client_for(boss), headers_for(staff)

    def edit() -> None:
        if change == "delete":
            response = admin.post(reverse("admin:auth_user_delete", args=[staff.pk]), {"post": "yes"})
        else:
            right = "is_active" if change == "deactivate" else "is_staff"
            response = admin.post(
                reverse("admin:auth_user_change", args=[staff.pk]), _admin_form(staff, **{right: False})
            )
        assert response.status_code == 302, response.content.decode()[-2000:]

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", theirs)
        assert connected  # staff see every job
        assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
        await database_sync_to_async(edit)()
        await _closed_and_deaf(communicator, idle_job.pk)

    run(scenario)
    if change == "delete":
        theirs_job.refresh_from_db()
        assert theirs_job.owner_id == boss.pk


@pytest.mark.parametrize("page", ["member", "case"])
def test_a_membership_removed_in_the_django_admin_closes_the_user_s_socket(
    idle_job, other, make_user, client_for, page
):
    """A membership of the job's case deleted on its own admin page, or from the case's inline list of members, is
    removed as the job page removes it: audited, and the user's open socket on the job closes."""
    share = job_share(job=idle_job, user=other, role="reviewer")
    admin, theirs = client_for(make_user("boss@example.org", staff=True, superuser=True)), headers_for(other)

    def remove() -> None:
        if page == "member":
            response = admin.post(reverse("admin:cases_casemember_delete", args=[share.pk]), {"post": "yes"})
        else:
            response = admin.post(
                reverse("admin:cases_case_change", args=[idle_job.case_id]),
                {
                    "title": idle_job.case.title, "description": "",
                    "members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "1", "members-MIN_NUM_FORMS": "0",
                    "members-MAX_NUM_FORMS": "1000", "members-0-id": share.pk, "members-0-case": idle_job.case_id,
                    "members-0-user": other.pk, "members-0-role": "reviewer", "members-0-DELETE": "on",
                },
            )  # fmt: skip
        assert response.status_code == 302, response.content.decode()[-3000:]

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", theirs)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
        await database_sync_to_async(remove)()
        await _closed_and_deaf(communicator, idle_job.pk)

    run(scenario)
    assert not CaseMember.objects.filter(pk=share.pk).exists()
    assert AuditEvent.objects.filter(action="case.member.remove", target=idle_job.case.reference).count() == 1


def test_the_jobs_list_socket_follows_only_jobs_the_user_may_see(idle_job, other, examiner, evidence_dir):
    theirs = job_create(name="theirs", source_path=evidence_dir, owner=other)
    mine = headers_for(examiner)

    async def scenario():
        communicator, connected = await connect("/ws/jobs/", mine)
        assert connected
        # Both shown as "completed" while they are "created": each visible one gets a snapshot.
        await communicator.send_json_to({"watch": {str(idle_job.pk): "completed", str(theirs.pk): "completed"}})
        first = await communicator.receive_json_from(timeout=10)
        assert first["job"] == idle_job.pk
        assert first["type"] == "snapshot"
        assert await communicator.receive_nothing(timeout=0.5)
        await get_channel_layer().group_send(
            job_group(theirs.pk), {"type": "job.progress", "event": {"type": "progress", "job": theirs.pk}}
        )
        assert await communicator.receive_nothing(timeout=0.5)  # never another user's job
        await communicator.disconnect()

    run(scenario)


@pytest.mark.parametrize("lost", ["is_staff", "is_active"])
def test_the_jobs_list_socket_checks_the_user_as_they_are_now_on_every_watch(idle_job, make_user, lost):
    """A staff member who lost staff rights, or a user deactivated without their sockets hearing of it, gets no job
    they may no longer see by asking to watch it on a socket opened before."""
    staff = make_user("staff@example.org", staff=True)
    theirs = headers_for(staff)

    async def scenario():
        communicator, connected = await connect("/ws/jobs/", theirs)
        assert connected
        await communicator.send_json_to({"watch": {str(idle_job.pk): "completed"}})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"  # staff see every job
        # Changed behind the consumers' back: no revocation message reaches the socket.
        await database_sync_to_async(get_user_model().objects.filter(pk=staff.pk).update)(**{lost: False})
        await communicator.send_json_to({"watch": {str(idle_job.pk): "completed"}})
        if lost == "is_active":
            assert (await communicator.receive_output(timeout=10))["type"] == "websocket.close"
        else:
            assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run(scenario)


def test_a_socket_that_missed_a_revocation_checks_access_again_before_the_next_event(idle_job, other, monkeypatch):
    """A revocation message can be lost (a channel layer restart): once its last check is older than
    ACCESS_CHECK_MAX_AGE, a socket checks access again before it forwards an event, and closes on what the user may
    no longer see."""
    monkeypatch.setattr(consumers, "ACCESS_CHECK_MAX_AGE", 0.0)
    job_share(job=idle_job, user=other, role="reviewer")
    theirs = headers_for(other)

    async def scenario():
        job_socket, connected = await connect(f"/ws/jobs/{idle_job.pk}/", theirs)
        assert connected
        assert (await job_socket.receive_json_from(timeout=10))["type"] == "snapshot"
        list_socket, connected = await connect("/ws/jobs/", theirs)
        assert connected
        await list_socket.send_json_to({"watch": {str(idle_job.pk): "completed"}})
        assert (await list_socket.receive_json_from(timeout=10))["type"] == "snapshot"
        await database_sync_to_async(get_user_model().objects.filter(pk=other.pk).update)(is_active=False)
        await get_channel_layer().group_send(
            job_group(idle_job.pk), {"type": "job.progress", "event": {"type": "progress", "job": idle_job.pk}}
        )
        for communicator in (job_socket, list_socket):
            assert (await communicator.receive_output(timeout=10))["type"] == "websocket.close"
            assert await communicator.receive_nothing(timeout=0.5)
            await communicator.disconnect()

    run(scenario)


def test_the_snapshot_equals_the_database(idle_job, examiner):
    Job.objects.filter(pk=idle_job.pk).update(
        status=Job.Status.EXTRACTING, files_seen=12, images=9, distinct_images=8, skipped=2, errors=1,
        image_types={"image/jpeg": 7, "image/png": 2}, current_path="a/b.jpg",
    )  # fmt: skip
    StageProgress.objects.filter(job=idle_job, stage="exif").update(total=8, done=5, failed=1)
    mine = headers_for(examiner)

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{idle_job.pk}/", mine)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return snapshot

    snapshot = run(scenario)
    db = job_progress_snapshot(job_id=idle_job.pk)
    assert snapshot["type"] == "snapshot"
    for key in ("status", "files_seen", "images", "distinct_images", "skipped", "errors", "image_types",
                "current_path", "discovery_finished"):  # fmt: skip
        assert snapshot[key] == db[key], key
    stages = {p["stage"]: p for p in snapshot["stages"]}
    for p in db["stages"]:
        assert {k: stages[p["stage"]][k] for k in p} == p
    assert stages["exif"]["done"] == 5
    assert stages["exif"]["failed"] == 1


def test_workers_stage_tasks_reach_the_socket_as_deltas(workers, transactional_db, evidence_dir, examiner):
    make_case(evidence_dir, extra=30)
    job = job_create(name="live", source_path=evidence_dir, owner=examiner, stages=["exif"])
    mine = headers_for(examiner)

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{job.pk}/", mine)
        assert connected
        events = [await communicator.receive_json_from(timeout=10)]
        assert events[0]["type"] == "snapshot"
        assert events[0]["status"] == "created"
        await database_sync_to_async(job_start)(job=job)
        deadline = time.monotonic() + 120
        while events[-1].get("status") != "completed":
            assert time.monotonic() < deadline, events[-1]
            events.append(await communicator.receive_json_from(timeout=60))
        await communicator.disconnect()
        return events

    events = run(scenario)
    deltas = events[1:]
    assert all(e["type"] == "progress" for e in deltas)
    # Events of several worker processes may cross on the way; the last state is the newest.
    assert deltas[-1]["seq"] == max(e["seq"] for e in deltas)
    exif_done = [next(p for p in e["stages"] if p["stage"] == "exif")["done"] for e in deltas]
    assert max(exif_done) > 0  # counts only a stage task adds
    final = deltas[-1]
    db = job_progress_snapshot(job_id=job.pk)
    assert final["files_seen"] == db["files_seen"]
    assert final["errors"] == db["errors"] > 0
    assert final["stages"][0]["done"] == db["stages"][0]["done"]
    assert {e["path"] for e in final["newest_errors"]} <= set(
        job.files.filter(status="error").values_list("path", flat=True)
    )


def test_a_stage_task_alone_produces_a_delta(workers, transactional_db, evidence_dir, examiner, settings, mocker):
    """Discovery runs here with publishing off and its batch held back; then the batch's exif task alone goes to
    a real worker. The only thing that can send the delta is that stage task."""
    settings.PROGRESS_EVENTS = False
    make_case(evidence_dir)
    job = job_create(name="stage", source_path=evidence_dir, owner=examiner, stages=["exif"])
    held = mocker.patch.object(scanning, "dispatch_batch", autospec=True)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    scanning.scan_job(job_id=job.pk, slice_seconds=60)
    (_, batch), _ = held.call_args
    exif = StageProgress.objects.get(job=job, stage="exif")
    assert exif.total > 0
    assert exif.done == 0
    mine = headers_for(examiner)

    async def scenario():
        communicator, connected = await connect(f"/ws/jobs/{job.pk}/", mine)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=10)
        assert snapshot["stages"][0]["done"] == 0
        signature(canvas.STAGE_TASK, args=(batch.pk, "exif"), immutable=True).apply_async()
        delta = last = await communicator.receive_json_from(timeout=60)
        while last["status"] != "completed":
            last = await communicator.receive_json_from(timeout=60)
        await communicator.disconnect()
        return delta, last

    delta, last = run(scenario)
    exif.refresh_from_db()
    assert delta["type"] == "progress"
    assert delta["stages"][0]["done"] == exif.done == exif.total
    # The batch's only stage: the task that finished it finished the batch, and so the job (no chord body ran). The
    # first delta may say so already, or the next one does.
    assert last["status"] == "completed"


def test_the_publisher_coalesces_a_burst_into_few_events(idle_job, settings):
    """A thousand changes in a burst: the job's group receives a bounded number of events, the last one carrying
    the final state."""
    settings.PROGRESS_EVENT_INTERVAL = 0.3
    layer = get_channel_layer()
    channel = run(layer.new_channel)
    run(layer.group_add, job_group(idle_job.pk), channel)
    publisher = ProgressPublisher()
    started = time.monotonic()
    for i in range(1000):
        Job.objects.filter(pk=idle_job.pk).update(files_seen=i + 1)
        publisher.changed(idle_job.pk)
    burst = time.monotonic() - started

    async def receive_until_final():
        received = []
        while not received or received[-1]["files_seen"] < 1000:
            message = await asyncio.wait_for(layer.receive(channel), timeout=10)
            received.append(message["event"])
        return received

    received = run(receive_until_final)
    run(layer.group_discard, job_group(idle_job.pk), channel)
    assert len(received) <= burst / 0.3 + 3, (len(received), burst)
    assert received[-1] == progress_event(job_id=idle_job.pk)


def test_a_flushed_publisher_has_sent_every_change_marked_before(idle_job, settings):
    """A process about to exit flushes: what it changed last reaches the job's group at once, not after the pause
    between rounds (which would outlive the process)."""
    settings.PROGRESS_EVENT_INTERVAL = 60
    layer = get_channel_layer()
    channel = run(layer.new_channel)
    run(layer.group_add, job_group(idle_job.pk), channel)
    publisher = ProgressPublisher()
    publisher.changed(idle_job.pk)  # the first round goes out at once; the next waits a minute
    Job.objects.filter(pk=idle_job.pk).update(files_seen=7)
    publisher.changed(idle_job.pk)
    started = time.monotonic()
    publisher.flush(timeout=20)
    assert time.monotonic() - started < 20

    async def receive_all():
        received = [(await asyncio.wait_for(layer.receive(channel), timeout=5))["event"]]
        while received[-1]["files_seen"] != 7:  # the first round may have read the job before or after the update
            received.append((await asyncio.wait_for(layer.receive(channel), timeout=1))["event"])
        return received

    received = run(receive_all)
    run(layer.group_discard, job_group(idle_job.pk), channel)
    assert received[-1] == progress_event(job_id=idle_job.pk)


def test_a_review_change_reaches_the_sockets_of_every_job_of_the_case_and_no_other(idle_job, examiner, evidence_dir):
    case = case_create(reference="2024-017", title="Two exhibits", owner=examiner)
    first = job_create(name="laptop", source_path=evidence_dir, owner=examiner, case=case)
    second = job_create(name="phone", source_path=evidence_dir, owner=examiner, case=case)
    mine = headers_for(examiner)

    async def scenario():
        sockets = []
        for job in (first, second, idle_job):
            communicator, connected = await connect(f"/ws/jobs/{job.pk}/", mine)
            assert connected
            assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
            sockets.append(communicator)
        listing, connected = await connect("/ws/jobs/", mine)
        assert connected
        await listing.send_json_to({"watch": {str(first.pk): "created"}})  # as shown: no snapshot
        await database_sync_to_async(review_changed.send)(
            sender=Case, case_id=case.pk, image_ids=[7, 9], what="category"
        )
        expected = {"type": "review", "case": case.pk, "images": [7, 9], "what": "category"}
        assert await sockets[0].receive_json_from(timeout=10) == expected
        assert await sockets[1].receive_json_from(timeout=10) == expected
        assert await sockets[2].receive_nothing(timeout=0.5)  # a job of another case
        assert await listing.receive_nothing(timeout=0.5)  # the jobs list shows no decisions
        for communicator in (*sockets, listing):
            await communicator.disconnect()

    run(scenario)
