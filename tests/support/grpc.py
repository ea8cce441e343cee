"""The gRPC server as the tests see it (where it listens, the CA that signed its certificate), clients for its
users, and what a call ends with."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from api.client import channel_open
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


@dataclass(frozen=True)
class GrpcServer:
    target: str
    ca: bytes
    sources_root: Path
    log: Path

    def channel(self, token: str = "") -> grpc.Channel:
        return channel_open(target=self.target, token=token, ca=self.ca)


@dataclass(frozen=True)
class Client:
    """A user, their token, and stubs that call as them."""

    user: object
    token: str
    jobs: jobs_pb2_grpc.JobServiceStub
    workers: workers_pb2_grpc.WorkerServiceStub
    cases: cases_pb2_grpc.CaseServiceStub
    review: review_pb2_grpc.ReviewServiceStub
    hashsets: hashsets_pb2_grpc.HashSetServiceStub
    faces: faces_pb2_grpc.FaceServiceStub
    persons: persons_pb2_grpc.PersonServiceStub
    verification: verification_pb2_grpc.VerificationServiceStub


def self_signed_cert(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for `name` (and 127.0.0.1) and its key, made with openssl as `make up` does."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def grpc_serving(target: str, *, ca: bytes | None = None) -> bool:
    """Whether the server at `target` answers the standard health check with SERVING (no token needed). Without
    `ca`, over gRPC's local credentials."""
    credentials = (
        grpc.ssl_channel_credentials(root_certificates=ca)
        if ca
        else grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    )
    with grpc.secure_channel(target, credentials) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    """The error a call ends with (consuming a stream); fails the test if it succeeds."""
    try:
        result = call(*args, **kwargs)
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError(f"{call} succeeded")
