"""api.fetch against a server that lies (a real gRPC server in this process, sending what each test scripts), and
its naming of copies: nothing unchecked is ever kept, and a name only ever comes from a valid SHA-256."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from api.fetch import TransferError, copy_name, copy_to, file_copy
from imagescanner.v1 import jobs_pb2 as pb

SHA = "ab" * 32
DATA = b"the evidence" * 1000
DATA_SHA = hashlib.sha256(DATA).hexdigest()
SIZE = len(DATA)
SERVICE = pb.DESCRIPTOR.services_by_name["JobService"].full_name
BUSY: list[pb.FileChunk] = []  # a script that turns the stream away: the user holds as many as the server admits


@pytest.fixture
def lying_server() -> Iterator[tuple[grpc.Channel, list[list[pb.FileChunk]]]]:
    """A channel to a server whose StreamFile sends the next scripted list of messages."""
    scripts: list[list[pb.FileChunk]] = []

    def stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        script = scripts.pop(0)
        if script is BUSY:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "you already hold 8 streams")
        for message in script:
            yield message.SerializeToString()

    handler = grpc.method_handlers_generic_handler(
        pb.DESCRIPTOR.services_by_name["JobService"].full_name,
        {"StreamFile": grpc.unary_stream_rpc_method_handler(stream)},
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, scripts
    server.stop(None)


def _script(header_sha=DATA_SHA, trailer_sha=DATA_SHA, header_size=SIZE, sent_size=SIZE, trailer=True):
    messages = [
        pb.FileChunk(header=pb.FileHeader(file_id=1, path="a.jpg", size=header_size, sha256=header_sha)),
        pb.FileChunk(data=DATA[: len(DATA) // 2]),
        pb.FileChunk(data=DATA[len(DATA) // 2 :]),
    ]
    return messages + ([pb.FileChunk(trailer=pb.FileTrailer(sha256=trailer_sha, size=sent_size))] if trailer else [])


def test_a_stream_whose_bytes_are_what_every_hash_and_size_says_is_kept(lying_server, tmp_path):
    channel, scripts = lying_server
    scripts.append(_script())
    copied = copy_to(channel, pb.StreamFileRequest(file_id=1), tmp_path / "copy.jpg", expect=DATA_SHA)
    assert (copied.sha256, copied.size, copied.header.path) == (DATA_SHA, len(DATA), "a.jpg")
    assert (tmp_path / "copy.jpg").read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["copy.jpg"]


def test_a_copy_turned_away_for_the_users_stream_limit_waits_for_a_slot(lying_server, tmp_path):
    channel, scripts = lying_server
    scripts.extend([BUSY, BUSY, _script()])
    copy_to(channel, pb.StreamFileRequest(file_id=1), tmp_path / "copy.jpg", expect=DATA_SHA)
    assert (tmp_path / "copy.jpg").read_bytes() == DATA
    assert scripts == []


def test_a_copy_turned_away_for_longer_than_it_waits_fails_and_leaves_nothing(lying_server, tmp_path):
    channel, scripts = lying_server
    scripts.extend([BUSY, BUSY, _script()])
    with pytest.raises(grpc.RpcError) as refused:
        copy_to(channel, pb.StreamFileRequest(file_id=1), tmp_path / "copy.jpg", busy_wait=0.2)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert list(tmp_path.iterdir()) == []
    assert len(scripts) == 1  # asked twice: at first, and once after a wait


@pytest.mark.parametrize(
    ("script", "expect", "error"),
    [
        (_script(header_sha=SHA), "", f"hash to {DATA_SHA}, the scan recorded {SHA}"),
        (_script(trailer_sha=SHA), "", "hash to"),
        (_script(), SHA, "hash to"),  # the listing said another image
        (_script(trailer=False), "", "the transfer ended early"),
        (_script(sent_size=len(DATA) + 1), "", f"{len(DATA)} bytes received"),
        (_script(header_size=7, sent_size=7), "", f"{len(DATA)} bytes received"),
    ],
)
def test_a_stream_that_does_not_add_up_leaves_nothing(lying_server, tmp_path, script, expect, error):
    channel, scripts = lying_server
    target = tmp_path / "copy.jpg"
    target.write_bytes(b"what was there")
    scripts.extend([script, script])
    with pytest.raises(TransferError, match=error):
        copy_to(channel, pb.StreamFileRequest(file_id=1), target, expect=expect)
    assert target.read_bytes() == b"what was there"
    assert [p.name for p in tmp_path.iterdir()] == ["copy.jpg"]
    with pytest.raises(TransferError, match=error):
        file_copy(channel, pb.StreamFileRequest(file_id=1), io.BytesIO(), expect=expect)


@pytest.mark.parametrize(
    ("mime", "image_format", "name"),
    [
        ("image/jpeg", "JPEG", f"{SHA}.jpg"),
        ("image/png", "PNG", f"{SHA}.png"),
        ("image/webp", "WEBP", f"{SHA}.webp"),
        ("image/tiff", "TIFF", f"{SHA}.tif"),
        ("image/x-unheard-of", "NEWFMT", f"{SHA}.newfmt"),
        ("application/x-unheard-of", "", SHA),
        ("", "../../x", SHA),
    ],
)
def test_a_copy_is_named_by_its_sha256_and_type(mime, image_format, name):
    assert copy_name(pb.Image(image_id=1, sha256=SHA, mime=mime, format=image_format)) == name


@pytest.mark.parametrize("sha256", ["", "../../etc/passwd", SHA.upper(), SHA + "/x", SHA[:-1], "/" + SHA[1:]])
def test_a_name_never_comes_from_anything_but_a_sha256(sha256):
    with pytest.raises(ValueError, match="has no valid SHA-256"):
        copy_name(pb.Image(image_id=1, sha256=sha256, mime="image/jpeg"))
