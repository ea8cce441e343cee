"""StreamFile's data path, at both ends, with as few copies and page faults as gRPC allows.

A data message is a `FileChunk` with only `data` set: on the wire, the field's tag, the length as a varint, then the
bytes. Built and read through protobuf, every byte is copied into the message, again into its serialized form, and
on the client again out of the parsed message: about a fifth of the server's CPU per byte, and a fifth to a third
of the client's, measured on the development machine (docs/grpc.md). So the server reads the file straight into a
new bytes object behind room for the tag and length, and sends that as the serialized message (`StreamFileSerializer`
gives the method `chunk_serialize`, which passes bytes through); the client (`file_stream`) takes the bytes out of
a received data message as a view, and parses only the header and the trailer with protobuf. The wire format is
exactly protobuf's: other clients see no difference.

Both ends also keep freed megabyte buffers in their heap (`heap_keep_large_buffers`) instead of glibc's default of
mapping each one afresh.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import grpc

from imagescanner.v1 import jobs_pb2 as pb

STREAM_FILE = "/{}/StreamFile".format(pb.DESCRIPTOR.services_by_name["JobService"].full_name)
# FileChunk.data's key: the field number, and wire type 2 (length-delimited); one byte.
_DATA_TAG = bytes([(pb.FileChunk.DESCRIPTOR.fields_by_name["data"].number << 3) | 2])
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


def data_message(payload: bytes | memoryview) -> bytes:
    """The serialized `FileChunk(data=payload)`."""
    return b"".join((_DATA_TAG, _varint(len(payload)), payload))


_bytes_new = ctypes.pythonapi.PyBytes_FromStringAndSize
_bytes_new.restype = ctypes.py_object
_bytes_new.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
_bytes_address = ctypes.pythonapi.PyBytes_AsString
_bytes_address.restype = ctypes.c_void_p
_bytes_address.argtypes = (ctypes.py_object,)


def _message_new(size: int) -> tuple[bytes, memoryview]:
    """A new bytes object of `size` bytes, and a writable view of them for filling it before anything else sees
    it. gRPC sends only bytes, and a bytes object made from a buffer is a copy of it; the C API makes one to be
    filled: "the data must not be modified in any way, unless the object was just created using
    PyBytes_FromStringAndSize(NULL, size)" (https://docs.python.org/3/c-api/bytes.html#c.PyBytes_AsString)."""
    message = _bytes_new(None, size)
    return message, memoryview((ctypes.c_char * size).from_address(_bytes_address(message))).cast("B")


# glibc's mallopt parameters (malloc.h) and what they are set to: allocations up to 32 MiB come from the heap, and
# up to 256 MiB freed at its top stay mapped.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_MMAP_THRESHOLD, _HEAP_TRIM_THRESHOLD = 32 << 20, 256 << 20


@functools.cache
def heap_keep_large_buffers() -> bool:
    """Let this process's malloc reuse freed buffers of a few megabytes rather than map fresh pages for each.

    glibc gives an allocation above its mmap threshold a mapping of its own and unmaps it when it is freed, and
    returns freed memory at the top of a heap to the system; it raises the threshold as it sees large blocks freed,
    which still leaves StreamFile's messages (gRPC's read buffers at the client, the messages themselves at both
    ends) landing on fresh pages often enough that zeroing them cost the client a fifth of its CPU per byte
    (docs/grpc.md). Fixed thresholds keep them in the heap for reuse; the price is that a process keeps up to
    _HEAP_TRIM_THRESHOLD of freed memory. Called by the server and by `file_stream`; False where the C library has
    no mallopt (not glibc), which changes nothing else."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _HEAP_TRIM_THRESHOLD))


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

    Each message is a new bytes object the file is read into directly, behind room for the tag and length (see
    `_message_new`), so no byte is copied on its way from the file to gRPC. With `read_ahead`, the next
    READ_AHEAD_CHUNKS messages are read and hashed on a thread of its own while the caller sends the current one
    (reading and hashlib release the GIL). Without it, one thread reads, hashes and sends every byte, and a stream
    can go no faster than that thread, however many cores the server has; with it, the reading thread does what a
    reader of the file itself would (read and hash), and the sending thread only hands messages to gRPC.
    settings.GRPC_STREAM_READ_AHEAD says where that pays. Stopping early (a cancelled call closes the generator)
    waits for the read under way."""

    def __init__(self, fp: BinaryIO, chunk: int, *, read_ahead: bool) -> None:
        self._fp = fp
        self._chunk = chunk
        self._prefix = _DATA_TAG + _varint(chunk)
        self._read_ahead = read_ahead
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _read(self) -> bytes | None:
        """Read and hash the next chunk; its serialized data message, or None at the end of the file."""
        start = len(self._prefix)
        message, view = _message_new(start + self._chunk)
        read = self._fp.readinto(view[start:])
        if not read:
            return None
        self._digest.update(view[start : start + read])
        self.size += read
        if read < self._chunk:  # the last chunk: a shorter length, and a message of its own
            return data_message(view[start : start + read])
        view[:start] = self._prefix
        return message

    def __iter__(self) -> Iterator[bytes]:
        if not self._read_ahead:
            while (message := self._read()) is not None:
                yield message
            return
        ahead: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=READ_AHEAD_CHUNKS)
        stop = threading.Event()

        def produce() -> None:
            try:
                while not stop.is_set():
                    message = self._read()
                    ahead.put(message)
                    if message is None:
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the sending thread, which raises it
                ahead.put(exc)

        reader = threading.Thread(target=produce, name="stream-read", daemon=True)
        reader.start()
        try:
            while (message := ahead.get()) is not None:
                if isinstance(message, BaseException):
                    raise message
                yield message
        finally:
            stop.set()
            while True:  # the reader may wait to put a message: make room until it has seen `stop`
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    break
            reader.join()


def file_stream(
    channel: grpc.Channel, request: pb.StreamFileRequest, **call: object
) -> Iterator[pb.FileChunk | memoryview]:
    """Call StreamFile on `channel`: the header and the trailer as `FileChunk`s, each data chunk's bytes as a
    memoryview (valid for as long as it is referenced). `call` goes to the call (timeout, metadata...)."""
    heap_keep_large_buffers()
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
