"""The gRPC server: JobService, WorkerService, CaseService, ReviewService, HashSetService, FaceService, PersonService
and VerificationService behind the token interceptor, the standard health service and server reflection. TLS from a
certificate and key on disk; without them only local (loopback) connections, and only when asked for."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from django.conf import settings
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api.auth import AuthInterceptor
from api.cases_servicer import CaseServicer
from api.faces_servicer import FaceServicer
from api.filestream import StreamFileSerializer, heap_keep_large_buffers
from api.hashsets_servicer import HashSetServicer
from api.jobs_servicer import JobServicer
from api.persons_servicer import PersonServicer
from api.review_servicer import ReviewServicer
from api.streams import StreamSlots
from api.verification_servicer import VerificationServicer
from api.workers_servicer import WorkerServicer
from imagescanner.v1 import (
    cases_pb2,
    cases_pb2_grpc,
    faces_pb2,
    faces_pb2_grpc,
    hashsets_pb2,
    hashsets_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
    workers_pb2,
    workers_pb2_grpc,
)

logger = logging.getLogger(__name__)

SERVICES = (
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    workers_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    cases_pb2.DESCRIPTOR.services_by_name["CaseService"].full_name,
    review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name,
    hashsets_pb2.DESCRIPTOR.services_by_name["HashSetService"].full_name,
    faces_pb2.DESCRIPTOR.services_by_name["FaceService"].full_name,
    persons_pb2.DESCRIPTOR.services_by_name["PersonService"].full_name,
    verification_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key.read_bytes(), self.cert.read_bytes())])


@dataclass
class Server:
    server: grpc.Server
    port: int
    health: health.HealthServicer

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, then let running calls finish for `grace` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


def server_build(
    *, bind: str, port: int, tls: TlsFiles | None, max_workers: int, max_streams: int, streams_per_user: int
) -> Server:
    """A started server on bind:port (port 0: a free one). Without `tls` it accepts local connections only
    (gRPC's local credentials: loopback TCP, no encryption). Streams are admitted up to `streams_per_user` per
    user and `max_streams` in all, which must leave some of the `max_workers` threads to unary calls (ValueError
    otherwise)."""
    if not 0 < max_streams < max_workers or streams_per_user < 1:
        raise ValueError(
            f"GRPC_MAX_STREAMS ({max_streams}) must be 1 to GRPC_MAX_WORKERS - 1 ({max_workers - 1}), "
            f"and GRPC_STREAMS_PER_USER ({streams_per_user}) at least 1"
        )
    heap_keep_large_buffers()
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[
            AuthInterceptor(StreamSlots(total=max_streams, per_user=streams_per_user)),
            StreamFileSerializer(),
        ],
        # A face search sends its reference photo in one message: room for the largest accepted, and a little more.
        options=[("grpc.max_receive_message_length", settings.FACE_SEARCH_UPLOAD_MAX + 2**20)],
    )
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(), server)
    workers_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(), server)
    cases_pb2_grpc.add_CaseServiceServicer_to_server(CaseServicer(), server)
    review_pb2_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(), server)
    hashsets_pb2_grpc.add_HashSetServiceServicer_to_server(HashSetServicer(), server)
    faces_pb2_grpc.add_FaceServiceServicer_to_server(FaceServicer(), server)
    persons_pb2_grpc.add_PersonServiceServicer_to_server(PersonServicer(), server)
    verification_pb2_grpc.add_VerificationServiceServicer_to_server(VerificationServicer(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"
    if tls is not None:
        bound = server.add_secure_port(address, tls.credentials())
    else:
        bound = server.add_secure_port(address, grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP))
    if not bound:
        raise OSError(f"cannot listen on {address}")
    server.start()
    for name in (*SERVICES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("gRPC server on %s (%s)", f"{bind}:{bound}", "TLS" if tls else "local connections only")
    return Server(server=server, port=bound, health=health_servicer)
