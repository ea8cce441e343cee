"""Streams cannot starve the server: each one holds a server thread while it runs, so they are admitted up to a
number per user and a number in all that leaves threads to every other call (api.streams)."""

from __future__ import annotations

import time

import grpc
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from grpc_health.v1 import health_pb2, health_pb2_grpc

from api.client import channel_open
from api.server import server_build
from api.services import api_token_create
from audit.models import AuditEvent
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import jobs_pb2_grpc
from jobs.services import job_create
from tests.support.grpc import rpc_error
from tests.support.jobs import photos
from tests.support.sources import sources_assigned
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# The limits the test server runs with (settings defaults; tests/api/conftest.py does not change them).
PER_USER, IN_ALL, THREADS = settings.GRPC_STREAMS_PER_USER, settings.GRPC_MAX_STREAMS, settings.GRPC_MAX_WORKERS
# Long enough for the test, short enough that streams the server never admits end the test soon.
STREAM_DEADLINE = 30
SERVING = health_pb2.HealthCheckResponse.SERVING
PROMPTLY = 5  # seconds: a call that waits for a free thread waits until a stream ends, here never


def _watch(client, job_id: int):
    return client.jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=job_id), timeout=STREAM_DEADLINE)


def _opened(streams: list) -> list[grpc.StatusCode | None]:
    """For each stream, None if it sent its first message, or the code it ended with."""
    outcomes = []
    for stream in streams:
        try:
            next(stream)
            outcomes.append(None)
        except grpc.RpcError as exc:
            outcomes.append(exc.code())
    return outcomes


def test_one_users_streams_cannot_hold_every_thread(grpc_server, client_as):
    assert PER_USER < IN_ALL < THREADS
    alice, bob, carol = (client_as(f"{name}@example.org") for name in ("alice", "bob", "carol"))
    photos(grpc_server.sources_root / "never-started", range(1))
    for client in (alice, bob, carol):
        sources_assigned(client.user, "never-started")
    job = alice.jobs.CreateJob(pb.CreateJobRequest(source="never-started"))
    bob_job = bob.jobs.CreateJob(pb.CreateJobRequest(source="never-started"))
    health = health_pb2_grpc.HealthStub(grpc_server.channel())
    # More streams than the server has threads, on a job that never changes: none of them would ever end.
    streams = [_watch(alice, job.id) for _ in range(THREADS + 4)]
    try:
        outcomes = _opened(streams)  # every stream admitted (or refused) by now
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=PROMPTLY).status == SERVING
        assert [j.id for j in bob.jobs.ListJobs(pb.ListJobsRequest(), timeout=PROMPTLY).jobs] == [bob_job.id]
        assert outcomes.count(None) == PER_USER
        assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == len(streams) - PER_USER
        refused = AuditEvent.objects.filter(action="api.WatchJobProgress", outcome=AuditEvent.Outcome.REFUSED)
        assert refused.count() == len(streams) - PER_USER
        assert {(e.user_id, e.job_id) for e in refused} == {(alice.user.pk, job.id)}
        assert "streams open, the most one user may" in refused.first().detail

        # Other users' streams up to the server's limit, and not one more.
        others = [_watch(bob, bob_job.id) for _ in range(IN_ALL - PER_USER)]
        streams += others
        assert _opened(others) == [None] * len(others)
        # Carol may not even see the job: the limit is checked first, so that a full server costs no query.
        error = rpc_error(_watch, carol, job.id)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the most it serves at once" in error.details()
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=PROMPTLY).status == SERVING
        assert "never-started" in carol.jobs.ListSources(pb.ListSourcesRequest(), timeout=PROMPTLY).sources
    finally:
        for stream in streams:
            stream.cancel()

    # A stream the client ended gives its slot back.
    def admitted() -> bool:
        fresh = [_watch(alice, job.id) for _ in range(PER_USER)]
        try:
            return _opened(fresh) == [None] * PER_USER
        finally:
            for stream in fresh:
                stream.cancel()

    wait_for(admitted, timeout=30, message="alice's cancelled streams to give their slots back")


def test_a_watch_of_a_job_that_stands_still_ends_and_gives_its_slot_back(
    settings, transactional_db, tmp_path, monkeypatch
):
    # A server of its own, in this process, so that it runs with a short idle limit; its threads close their
    # database connections after each call, so that none is left open when the test database is dropped.
    settings.GRPC_WATCH_INTERVAL, settings.GRPC_WATCH_IDLE_TIMEOUT = 0.05, 1.0
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "CONN_MAX_AGE", 0)
    user = get_user_model().objects.create_user(username="dave", email="dave@example.org")
    _, token = api_token_create(user=user, name="test")
    (tmp_path / "case").mkdir()
    job = job_create(name="still", source_path=tmp_path / "case", owner=user)
    server = server_build(bind="127.0.0.1", port=0, tls=None, max_workers=3, max_streams=2, streams_per_user=1)
    try:
        with channel_open(target=f"127.0.0.1:{server.port}", token=token, local=True) as channel:
            jobs = jobs_pb2_grpc.JobServiceStub(channel)
            started = time.monotonic()
            stream = jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=job.pk), timeout=STREAM_DEADLINE)
            assert next(stream).status == pb.JOB_STATUS_CREATED
            error = rpc_error(list, stream)
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert f"job {job.pk} did not change for 1 s" in error.details()
            assert time.monotonic() - started < STREAM_DEADLINE / 2  # ended by the server, not the client's deadline
            # The slot is free again: the user's one stream is admitted.
            again = jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=job.pk), timeout=STREAM_DEADLINE)
            assert next(again).job_id == job.pk
            assert rpc_error(list, again).code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        server.stop(0)
