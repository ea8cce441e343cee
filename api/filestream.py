"""StreamFile's data path, at both ends, without protobuf copying each chunk.

A data message is a `FileChunk` with only `data` set: on the wire, the field's tag, the length as a varint, then the
bytes. Built and read through protobuf, every byte is copied into the message, again into its serialized form, and
on the client again out of the parsed message: about a fifth of the server's CPU per byte, and a fifth to a third
of the client's, measured on the development machine (docs/grpc.md). So the server reads the file into a buffer that
leaves room for the tag and length in front, and sends that as the serialized message (`StreamFileSerializer` gives
the method `chunk_serialize`, which passes bytes through); the client (`file_stream`) takes the bytes out of a
received data message as a view, and parses only the header and the trailer with protobuf. The wire format is
exactly protobuf's: other clients see no difference.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import grpc

from imagescanner.v1 import jobs_pb2 as pb

STREAM_FILE = "/{}/StreamFile".format(pb.DESCRIPTOR.services_by_name["JobService"].full_name)
# FileChunk.data's key: the field number, and wire type 2 (length-delimited); one byte.
_DATA_TAG = bytes([(pb.FileChunk.DESCRIPTOR.fields_by_name["data"].number << 3) | 2])
_MAX_PREFIX = 1 + 10  # the tag, and a varint of at most 10 bytes
# Chunks read and hashed ahead of the one being sent, with read-ahead. More only adds cache misses: 4 and 8 were
# slower than 2 on the development machine (docs/grpc.md).
READ_AHEAD_CHUNKS = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_decode(message: bytes, at: int) -> tuple[int, int]:
    """The varint at `at` and the offset after it."""
    value = shift = 0
    while at < len(message):
        byte = message[at]
        value |= (byte & 0x7F) << shift
        shift += 7
        at += 1
        if not byte & 0x80:
            break
    return value, at


def data_message(payload: bytes) -> bytes:
    """The serialized `FileChunk(data=payload)`."""
    return _DATA_TAG + _varint(len(payload)) + payload


def chunk_serialize(message: pb.FileChunk | bytes) -> bytes:
    """StreamFile's response serializer: a message already serialized (a data chunk) as it is."""
    return message if isinstance(message, bytes) else message.SerializeToString()


class StreamFileSerializer(grpc.ServerInterceptor):
    """Gives StreamFile's handler `chunk_serialize` in place of the generated `FileChunk.SerializeToString`."""

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is not None and handler_call_details.method == STREAM_FILE:
            return handler._replace(response_serializer=chunk_serialize)
        return handler


class FileChunks:
    """The data messages of an open file, `chunk` bytes each, serialized, and the SHA-256 and size of what they
    carry once iteration has ended.

    With `read_ahead`, the next READ_AHEAD_CHUNKS chunks are read and hashed on a thread of its own, each into a
    buffer of its own, while the caller sends the current one (reading into a buffer and hashlib release the GIL).
    Without it, one thread reads, hashes and sends every byte, and a stream can go no faster than that thread,
    however many cores the server has; with it, the reading thread does what a reader of the file itself would
    (read and hash), and the copy into the message and the sending are done on the caller's. The hand-over costs
    some CPU; settings.GRPC_STREAM_READ_AHEAD says where it pays. Stopping early (a cancelled call closes the
    generator) waits for the reads already queued."""

    def __init__(self, fp: BinaryIO, chunk: int, *, read_ahead: bool) -> None:
        self._fp = fp
        self._read_ahead = read_ahead
        self._buffers = [bytearray(_MAX_PREFIX + chunk) for _ in range(READ_AHEAD_CHUNKS if read_ahead else 1)]
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _read(self, buffer: bytearray) -> memoryview | None:
        """Read and hash the next chunk into `buffer`; the serialized message, a view of the buffer."""
        view = memoryview(buffer)
        read = self._fp.readinto(view[_MAX_PREFIX:])
        if not read:
            return None
        self._digest.update(view[_MAX_PREFIX : _MAX_PREFIX + read])
        self.size += read
        prefix = _DATA_TAG + _varint(read)
        start = _MAX_PREFIX - len(prefix)
        view[start:_MAX_PREFIX] = prefix
        return view[start : _MAX_PREFIX + read]

    def __iter__(self) -> Iterator[bytes]:
        if not self._read_ahead:
            while (message := self._read(self._buffers[0])) is not None:
                yield bytes(message)  # gRPC takes bytes
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream-read") as reader:
            pending = deque(reader.submit(self._read, buffer) for buffer in self._buffers)
            turn = 0
            while (message := pending.popleft().result()) is not None:
                data = bytes(message)  # gRPC takes bytes; the buffer is free again once copied
                pending.append(reader.submit(self._read, self._buffers[turn]))
                turn = (turn + 1) % len(self._buffers)
                yield data


def file_stream(
    channel: grpc.Channel, request: pb.StreamFileRequest, **call: object
) -> Iterator[pb.FileChunk | memoryview]:
    """Call StreamFile on `channel`: the header and the trailer as `FileChunk`s, each data chunk's bytes as a
    memoryview (valid for as long as it is referenced). `call` goes to the call (timeout, metadata...)."""
    stream = channel.unary_stream(
        STREAM_FILE, request_serializer=pb.StreamFileRequest.SerializeToString, response_deserializer=None
    )
    for message in stream(request, **call):
        if message[:1] == _DATA_TAG:
            length, at = _varint_decode(message, 1)
            if at + length == len(message):
                yield memoryview(message)[at:]
                continue
        yield pb.FileChunk.FromString(message)  # the header, the trailer, or a data message with more in it
