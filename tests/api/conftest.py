"""The gRPC server under test: `manage.py grpcserver` in a subprocess, over TLS, on the test database and broker,
with SOURCES_ROOT in a folder of the session; users with API tokens; clients for them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from django.contrib.auth import get_user_model

from api.services import api_token_create
from imagescanner.v1 import (
    cases_pb2_grpc,
    faces_pb2_grpc,
    hashsets_pb2_grpc,
    jobs_pb2_grpc,
    persons_pb2_grpc,
    review_pb2_grpc,
    verification_pb2_grpc,
    workers_pb2_grpc,
)
from tests.support.environment import free_port
from tests.support.grpc import Client, GrpcServer, grpc_serving, self_signed_cert
from tests.support.waiting import serving


@pytest.fixture(scope="session")
def grpc_server(worker_env, tmp_path_factory) -> Iterator[GrpcServer]:
    folder = tmp_path_factory.mktemp("grpc")
    cert, key = self_signed_cert(folder)
    # World-traversable, like the evidence folders (workers may run as another user).
    sources = Path(tempfile.mkdtemp(prefix="grpc-sources-", dir=os.environ.get("EVIDENCE_TMP")))
    sources.chmod(0o755)
    port = free_port()
    env = {
        **worker_env,
        "GRPC_PORT": str(port),
        "GRPC_TLS_CERT": str(cert),
        "GRPC_TLS_KEY": str(key),
        "SOURCES_ROOT": str(sources),
        "FACE_INDEX_ROOT": str(folder / "indexes"),
        # Short polls keep the streams' tests quick.
        "GRPC_WATCH_INTERVAL": "0.1",
        "GRPC_INSPECT_TIMEOUT": "1.0",
    }
    log = folder / "grpcserver.log"
    server = GrpcServer(target=f"localhost:{port}", ca=cert.read_bytes(), sources_root=sources, log=log)
    try:
        with serving(
            [sys.executable, "manage.py", "grpcserver"],
            env=env,
            log=log,
            answers=lambda: grpc_serving(server.target, ca=server.ca),
            what="the gRPC server to serve",
        ):
            yield server
    finally:
        shutil.rmtree(sources, ignore_errors=True)


@pytest.fixture
def client_as(grpc_server, transactional_db):
    """client_as(email, staff=False) -> a Client for a new user with a new token."""
    channels: list[grpc.Channel] = []

    def make(email: str, *, staff: bool = False) -> Client:
        user = get_user_model().objects.create_user(username=email.split("@")[0], email=email, is_staff=staff)
        _, token = api_token_create(user=user, name="test")
        channel = grpc_server.channel(token)
        channels.append(channel)
        return Client(
            user,
            token,
            jobs_pb2_grpc.JobServiceStub(channel),
            workers_pb2_grpc.WorkerServiceStub(channel),
            cases_pb2_grpc.CaseServiceStub(channel),
            review_pb2_grpc.ReviewServiceStub(channel),
            hashsets_pb2_grpc.HashSetServiceStub(channel),
            faces_pb2_grpc.FaceServiceStub(channel),
            persons_pb2_grpc.PersonServiceStub(channel),
            verification_pb2_grpc.VerificationServiceStub(channel),
        )

    yield make
    for channel in channels:
        channel.close()


@pytest.fixture
def alice(client_as) -> Client:
    return client_as("alice@example.org")


@pytest.fixture
def bob(client_as) -> Client:
    return client_as("bob@example.org")


@pytest.fixture
def operator(client_as) -> Client:
    return client_as("operator@example.org", staff=True)
