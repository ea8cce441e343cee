"""A bare gRPC stream, for benchmarks.grpc: the same ready-made message again and again from a generic handler, with
no file, no hash, no Django and no authentication, to measure what gRPC itself costs per GB at both ends.

`python -m benchmarks.grpcbare SIZE TOTAL` serves on a free loopback port, prints the port, and stops when its
standard input closes. A call of METHOD receives TOTAL bytes in messages of SIZE (the last one shorter where SIZE
does not divide TOTAL); `bare_stream` makes one and returns how many bytes it received. Both ends keep their heaps as
StreamFile's do.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc

from api.filestream import heap_keep_large_buffers

SERVICE = "imagescanner.bench.Bare"
METHOD = f"/{SERVICE}/Stream"


def bare_stream(channel: grpc.Channel) -> int:
    heap_keep_large_buffers()
    call = channel.unary_stream(METHOD, request_serializer=None, response_deserializer=None)
    return sum(len(message) for message in call(b""))


def main() -> None:
    size, total = int(sys.argv[1]), int(sys.argv[2])
    heap_keep_large_buffers()
    message = os.urandom(size)

    def stream(request: bytes, context: grpc.ServicerContext):
        for _ in range(total // size):
            yield message
        if total % size:
            yield message[: total % size]

    handler = grpc.method_handlers_generic_handler(SERVICE, {"Stream": grpc.unary_stream_rpc_method_handler(stream)})
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
