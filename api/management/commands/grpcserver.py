"""`manage.py grpcserver`: serve the gRPC API (JobService, WorkerService, health, reflection) until SIGTERM or
SIGINT, then finish running calls for a few seconds."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.server import TlsFiles, server_build

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Command(BaseCommand):
    help = "Serve the gRPC API. TLS from GRPC_TLS_CERT / GRPC_TLS_KEY; --insecure for local connections only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.GRPC_BIND, help="address to listen on (GRPC_BIND)")
        parser.add_argument("--port", type=int, default=settings.GRPC_PORT, help="port (GRPC_PORT; 0: a free one)")
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="without TLS: accept only connections from this machine (loopback), unencrypted",
        )
        parser.add_argument("--grace", type=float, default=10.0, help="seconds running calls get at shutdown")

    def handle(self, *args: Any, **options: Any) -> None:
        cert, key = settings.GRPC_TLS_CERT, settings.GRPC_TLS_KEY
        tls = None
        if cert or key:
            if not (cert and key):
                raise CommandError("set both GRPC_TLS_CERT and GRPC_TLS_KEY (paths to PEM files)")
            for path in (cert, key):
                if not Path(path).is_file():
                    raise CommandError(f"TLS file not found: {path}")
            tls = TlsFiles(Path(cert), Path(key))
        elif not options["insecure"]:
            raise CommandError("no TLS certificate: set GRPC_TLS_CERT and GRPC_TLS_KEY, or pass --insecure (loopback)")
        elif options["bind"] not in LOOPBACK:
            raise CommandError("--insecure serves loopback only: bind to 127.0.0.1 or ::1")
        try:
            server = server_build(
                bind=options["bind"],
                port=options["port"],
                tls=tls,
                max_workers=settings.GRPC_MAX_WORKERS,
                max_streams=settings.GRPC_MAX_STREAMS,
                streams_per_user=settings.GRPC_STREAMS_PER_USER,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(
            f"gRPC API on {options['bind']}:{server.port} ({'TLS' if tls else 'local connections only, no TLS'})",
        )
        self.stdout.flush()
        stop.wait()
        self.stdout.write("shutting down")
        server.stop(options["grace"])
