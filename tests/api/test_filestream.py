"""StreamFile's hand-serialized data messages are protobuf's own bytes, with or without the read-ahead thread, which
stops with the stream."""

from __future__ import annotations

import hashlib
import os
import platform
import threading

import pytest

from api.filestream import FileChunks, chunk_serialize, data_message, heap_keep_large_buffers
from imagescanner.v1 import jobs_pb2 as pb


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 3 * 1024 * 1024])
def test_a_data_message_is_what_protobuf_serializes(size):
    payload = os.urandom(size)
    encoded = data_message(payload)
    assert encoded == pb.FileChunk(data=payload).SerializeToString()
    parsed = pb.FileChunk.FromString(encoded)
    assert (parsed.WhichOneof("part"), parsed.data) == ("data", payload)


def test_chunk_serialize_passes_serialized_messages_through():
    header = pb.FileChunk(header=pb.FileHeader(file_id=7, sha256="ab"))
    assert chunk_serialize(header) == header.SerializeToString()
    assert chunk_serialize(b"\x12\x01x") == b"\x12\x01x"


@pytest.mark.parametrize("read_ahead", [False, True])
def test_file_chunks_carry_the_file_and_its_sha256(tmp_path, read_ahead):
    content = os.urandom(10 * 4096 + 123)
    path = tmp_path / "evidence.bin"
    path.write_bytes(content)
    with open(path, "rb", buffering=0) as fp:
        chunks = FileChunks(fp, 4096, read_ahead=read_ahead)
        messages = list(chunks)
    assert len(messages) == 11
    assert b"".join(pb.FileChunk.FromString(m).data for m in messages) == content
    assert (chunks.sha256, chunks.size) == (hashlib.sha256(content).hexdigest(), len(content))


def test_a_stream_closed_early_stops_reading(tmp_path):
    path = tmp_path / "evidence.bin"
    path.write_bytes(os.urandom(64 * 4096))
    with open(path, "rb", buffering=0) as fp:
        stream = iter(FileChunks(fp, 4096, read_ahead=True))
        next(stream)
        stream.close()  # what gRPC does to the servicer's generator when the client cancels
        assert not [t for t in threading.enumerate() if t.name.startswith("stream-read")]


class _FailingFile:
    """A file whose second read fails, as a disk error would."""

    def __init__(self) -> None:
        self.reads = 0

    def readinto(self, buffer) -> int:
        self.reads += 1
        if self.reads > 1:
            raise OSError(5, "Input/output error")
        buffer[:4096] = b"x" * 4096
        return 4096


@pytest.mark.parametrize("read_ahead", [False, True])
def test_a_read_error_ends_the_stream_with_that_error(read_ahead):
    stream = iter(FileChunks(_FailingFile(), 4096, read_ahead=read_ahead))
    assert pb.FileChunk.FromString(next(stream)).data == b"x" * 4096
    with pytest.raises(OSError, match="Input/output error"):
        next(stream)
    assert not [t for t in threading.enumerate() if t.name.startswith("stream-read")]


def test_the_heap_keeps_large_buffers_where_malloc_is_glibc():
    assert heap_keep_large_buffers() is (platform.libc_ver()[0] == "glibc")
