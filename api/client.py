"""A channel to the gRPC API with a token on every call: what `manage.py ctl`, the tests and the benchmark use."""

from __future__ import annotations

import grpc

# Read the socket in larger pieces than gRPC's 8 KiB start (it grows them only slowly), let the server send 8 MiB
# before it waits for a window update (a few StreamFile messages, instead of gRPC's 64 KiB start that its estimator
# only grows as the stream goes), in HTTP/2 frames of up to 4 MiB (the default is 16 KiB): StreamFile's megabyte
# messages then arrive in fewer reads, frames and buffers, which measurably lowers the client's CPU per byte.
# https://github.com/grpc/grpc/blob/master/include/grpc/impl/channel_arg_names.h (GRPC_ARG_TCP_*_READ_CHUNK_SIZE,
# GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, GRPC_ARG_HTTP2_MAX_FRAME_SIZE)
RECEIVE_OPTIONS = [
    ("grpc.experimental.tcp_min_read_chunk_size", 256 * 1024),
    ("grpc.experimental.tcp_read_chunk_size", 4 * 1024 * 1024),
    ("grpc.experimental.tcp_max_read_chunk_size", 8 * 1024 * 1024),
    ("grpc.http2.lookahead_bytes", 8 * 1024 * 1024),
    ("grpc.http2.max_frame_size", 4 * 1024 * 1024),
]


def channel_open(
    *, target: str, token: str, ca: bytes | None = None, local: bool = False, server_name: str = ""
) -> grpc.Channel:
    """A channel to `target` that sends `token` as `authorization: Bearer` on every call. TLS, verified against
    `ca` (a CA or the server's own certificate; None: the system's CAs), or with `local`, gRPC's local credentials
    (loopback only, unencrypted), for a server started without TLS. `server_name` overrides the name the
    certificate must carry."""
    transport = (
        grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        if local
        else grpc.ssl_channel_credentials(root_certificates=ca)
    )
    credentials = (
        grpc.composite_channel_credentials(transport, grpc.access_token_call_credentials(token)) if token else transport
    )
    options = [("grpc.ssl_target_name_override", server_name)] if server_name and not local else []
    return grpc.secure_channel(target, credentials, options=[*options, *RECEIVE_OPTIONS])
