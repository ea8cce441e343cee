"""StreamFile's hand-serialized data messages are protobuf's own bytes, with or without the read-ahead thread, which
stops with the stream."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from api.filestream import FileChunks, chunk_serialize, data_message
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
