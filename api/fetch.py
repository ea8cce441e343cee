"""Copying evidence out over the gRPC API, every byte checked against the SHA-256 the scan recorded: what
`ctl fetch` and `ctl fetch-images` do. Client side only (no database): a remote examiner's machine runs it.

A copy is written beside its final name (`.NAME.part`), hashed as it arrives, and renamed into place only when the
bytes hash to the SHA-256 the server sent at the start (the scan's), the one it sent at the end (of what it read)
and, for an image, the one its listing gave; anything else leaves no file. `ctl fetch-images` names each copy by its
SHA-256 (a suspect's file names never become paths here), keeps copies already present that still hash right, and
writes `manifest.csv` saying where each image was found, what became of it and why."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc

from api.filestream import file_stream
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import jobs_pb2_grpc
from scanner.records import records_write

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("file", "status", "error", "sha256", "size", "mime", "image_id", "file_id", "instances", "path")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORMAT = re.compile(r"[A-Za-z0-9]{1,10}")
# Python's own table only, not the machine's mime.types: the same image gets the same name everywhere.
_TYPES = mimetypes.MimeTypes()
_PAGE = 500


class TransferError(Exception):
    """The stream ended before its trailer, or its bytes are not the ones the scan recorded."""


@dataclass(frozen=True)
class Copied:
    header: pb.FileHeader
    size: int
    sha256: str


def file_copy(channel: grpc.Channel, request: pb.StreamFileRequest, out: BinaryIO, *, expect: str = "") -> Copied:
    """Stream the file `request` names into `out`, hashing it on the way. Raises TransferError unless the stream
    ended whole and its bytes hash to the header's SHA-256 (the scan's), the trailer's and `expect` (if given); the
    caller then discards what was written. grpc.RpcError as the server said."""
    digest = hashlib.sha256()
    header = trailer = None
    for part in file_stream(channel, request):
        if isinstance(part, memoryview):
            digest.update(part)
            out.write(part)
        elif part.HasField("header"):
            header = part.header
        else:
            trailer = part.trailer
    if header is None or trailer is None:
        raise TransferError("the transfer ended early")
    sha256 = digest.hexdigest()
    if not sha256 == trailer.sha256 == header.sha256 == (expect or sha256):
        raise TransferError(f"the bytes received hash to {sha256}, the scan recorded {header.sha256 or expect}")
    return Copied(header=header, size=trailer.size, sha256=sha256)


@dataclass(frozen=True)
class Fetched:
    """What became of one image: `fetched`, `present` (a copy was there and hashes right) or `error`."""

    image: pb.Image
    file: str
    status: str
    error: str = ""

    def record(self) -> dict[str, object]:
        image = self.image
        return {
            "file": self.file,
            "status": self.status,
            "error": self.error,
            "sha256": image.sha256,
            "size": image.size,
            "mime": image.mime,
            "image_id": image.image_id,
            "file_id": image.file_id,
            "instances": image.instances,
            "path": image.path,
        }


def job_images(stub: jobs_pb2_grpc.JobServiceStub, job_id: int, image_filter: pb.ImageFilter) -> Iterator[pb.Image]:
    """Every image of the job that passes the filter, in path order."""
    token = ""
    while True:
        page = stub.ListImages(
            pb.ListImagesRequest(job_id=job_id, page_size=_PAGE, page_token=token, filter=image_filter)
        )
        yield from page.images
        token = page.next_page_token
        if not token:
            return


def copy_name(image: pb.Image) -> str:
    """The copy's file name: the image's SHA-256 and the usual extension of its type (or its format's name). ValueError
    for a SHA-256 that is not one: a name never comes from anything else the server sends."""
    if not _SHA256.fullmatch(image.sha256):
        raise ValueError(f"image {image.image_id} has no valid SHA-256: {image.sha256!r}")
    extension = _TYPES.guess_extension(image.mime)
    if extension is None and _FORMAT.fullmatch(image.format):
        extension = f".{image.format.lower()}"
    return image.sha256 + (extension or "")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while block := fp.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _present(target: Path, sha256: str) -> bool:
    """A regular file (not a link) is at `target` and hashes to `sha256`."""
    try:
        if not stat.S_ISREG(target.lstat().st_mode):
            return False
    except FileNotFoundError:
        return False
    return _sha256_of(target) == sha256


def _create(path: Path) -> int:
    """A new file at `path` (one left there is removed), open for writing; never through a link someone left."""
    path.unlink(missing_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)


def _fetch_one(
    channel: grpc.Channel, job_id: int, image: pb.Image, folder: Path, done: Callable[[int], None]
) -> Fetched:
    try:
        name = copy_name(image)
    except ValueError as exc:
        return Fetched(image=image, file="", status="error", error=str(exc))
    target = folder / name
    if _present(target, image.sha256):
        done(image.size)
        return Fetched(image=image, file=name, status="present")
    part = folder / f".{name}.part"
    try:
        with os.fdopen(_create(part), "wb") as out:
            file_copy(channel, pb.StreamFileRequest(file_id=image.file_id, job_id=job_id), out, expect=image.sha256)
            out.flush()
            os.fsync(out.fileno())  # "fetched" means on disk
        os.replace(part, target)
    except grpc.RpcError as exc:
        error = f"{exc.code().name}: {exc.details()}"
    except (TransferError, OSError) as exc:
        error = str(exc)
    else:
        done(image.size)
        return Fetched(image=image, file=name, status="fetched")
    part.unlink(missing_ok=True)
    return Fetched(image=image, file="", status="error", error=error)


def images_fetch(
    channel: grpc.Channel,
    *,
    job_id: int,
    folder: Path,
    parallel: int,
    done: Callable[[int], None],
    image_filter: pb.ImageFilter | None = None,
) -> list[Fetched]:
    """Copy every image of the job that passes `image_filter` (ListImages' filter; None: every image) into `folder`
    (which must exist), `parallel` streams at a time, and write its manifest there. `done(size)` is called, from
    any thread, for each image that is there and checked. One result per image, in path order; per-image failures
    are results, a failed listing raises grpc.RpcError."""
    images = list(job_images(jobs_pb2_grpc.JobServiceStub(channel), job_id, image_filter or pb.ImageFilter()))
    lock = threading.Lock()

    def counted(size: int) -> None:
        with lock:
            done(size)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fetch") as pool:
        results = list(pool.map(lambda image: _fetch_one(channel, job_id, image, folder, counted), images))
    manifest = folder / MANIFEST
    part = folder / f".{MANIFEST}.part"
    with os.fdopen(_create(part), "w", encoding="utf-8", newline="") as out:
        records_write(out, (r.record() for r in results), fmt="csv", fields=MANIFEST_FIELDS)
    os.replace(part, manifest)
    return results
