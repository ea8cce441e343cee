"""Copying evidence out over the gRPC API, every byte checked against the SHA-256 the scan recorded: what
`ctl fetch` and `ctl fetch-images` do. Client side only (no database): a remote examiner's machine runs it.

A copy is written to a new temporary file beside its final name (`.NAME.XXXX.part`, readable by its owner only),
hashed and counted as it arrives, flushed to disk, and renamed into place only when the bytes hash to the SHA-256
the server sent at the start (the scan's), the one it sent at the end (of what it read) and, for an image, the one
its listing gave, and their count is the size the server announced; anything else leaves no file and leaves what
was at the final name as it was. `ctl fetch-images` names each copy by its SHA-256 (a suspect's file names never
become paths here), keeps copies already present that still hash right, and writes `manifest.csv` (what became of
each image and the first path it was found at) and `fetch-images.json` (which job and filter the folder holds)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

import grpc
from google.protobuf.json_format import MessageToDict

from api.filestream import file_stream
from extractors.modelstore import file_sha256
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import jobs_pb2_grpc
from records.formats import records_write

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("file", "status", "error", "sha256", "size", "mime", "image_id", "file_id", "instances", "path")
RUN = "fetch-images.json"
_LOCK = ".fetch-images.lock"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORMAT = re.compile(r"[A-Za-z0-9]{1,10}")
# The extension of each type the scanner opens as an image (evidence.images.MIME_FORMATS), fixed here so that
# the same image gets the same name on every machine and every Python.
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "image/bmp": ".bmp",
    "image/x-ms-bmp": ".bmp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/heic-sequence": ".heics",
    "image/heif-sequence": ".heifs",
    "image/avif": ".avif",
}
_PAGE = 500
T = TypeVar("T")


class TransferError(Exception):
    """The stream ended before its trailer, or its bytes are not the ones the scan recorded."""


class FolderRefused(Exception):
    """The output folder is busy with another run, or holds another job's or filter's images."""


@dataclass(frozen=True)
class Copied:
    header: pb.FileHeader
    size: int
    sha256: str


def file_copy(channel: grpc.Channel, request: pb.StreamFileRequest, out: BinaryIO, *, expect: str = "") -> Copied:
    """Stream the file `request` names into `out`, hashing and counting it on the way. Raises TransferError unless
    the stream ended whole, its bytes hash to the header's SHA-256 (the scan's), the trailer's and `expect` (if
    given), and their count is the header's and the trailer's size; the caller then discards what was written.
    grpc.RpcError as the server said."""
    digest = hashlib.sha256()
    header = trailer = None
    size = 0
    for part in file_stream(channel, request):
        if isinstance(part, memoryview):
            digest.update(part)
            out.write(part)
            size += len(part)
        elif part.HasField("header"):
            header = part.header
        else:
            trailer = part.trailer
    if header is None or trailer is None:
        raise TransferError("the transfer ended early")
    sha256 = digest.hexdigest()
    if not sha256 == trailer.sha256 == header.sha256 == (expect or sha256):
        raise TransferError(f"the bytes received hash to {sha256}, the scan recorded {header.sha256 or expect}")
    if not size == trailer.size == header.size:
        raise TransferError(
            f"{size} bytes received, the server announced {header.size} and said it sent {trailer.size}"
        )
    return Copied(header=header, size=size, sha256=sha256)


def copy_to(
    channel: grpc.Channel, request: pb.StreamFileRequest, target: Path, *, expect: str = "", busy_wait: float = 300.0
) -> Copied:
    """`file_copy` into `target` by way of `write_new`: nothing is at `target` unless it was checked. While the
    server turns the stream away because the user already holds as many as it admits (RESOURCE_EXHAUSTED: other
    copies, a watch in another terminal), the copy waits for a slot, longer each time, for up to `busy_wait` seconds
    in all; then the refusal stands."""
    pause, waited = 0.25, 0.0
    while True:
        try:
            return write_new(target, lambda out: file_copy(channel, request, out, expect=expect))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or waited >= busy_wait:
                raise
        threading.Event().wait(pause)
        waited += pause
        pause = min(pause * 2, 5.0)


def write_new(target: Path, write: Callable[[BinaryIO], T]) -> T:
    """`write(out)` into a new temporary file beside `target` (readable by its owner only), then flush it to disk
    and rename it to `target`. If `write` raises, the temporary file is removed and whatever was at `target` stays
    as it was."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    return result


def folder_sync(folder: Path) -> None:
    """Put the folder's entries (the renames into it) on disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    """The copy's file name: the image's SHA-256 and the extension of its type (or its format's name). ValueError for
    a SHA-256 that is not one: a name never comes from anything else the server sends."""
    if not _SHA256.fullmatch(image.sha256):
        raise ValueError(f"image {image.image_id} has no valid SHA-256: {image.sha256!r}")
    extension = _EXTENSIONS.get(image.mime)
    if extension is None and _FORMAT.fullmatch(image.format):
        extension = f".{image.format.lower()}"
    return image.sha256 + (extension or "")


def _present(target: Path, sha256: str) -> bool:
    """A regular file (not a link) is at `target` and hashes to `sha256`."""
    try:
        if not stat.S_ISREG(target.lstat().st_mode):
            return False
    except FileNotFoundError:
        return False
    return file_sha256(target) == sha256


def _fetch_one(
    channel: grpc.Channel, job_id: int, image: pb.Image, folder: Path, done: Callable[[int], None]
) -> Fetched:
    try:
        name = copy_name(image)
        if _present(folder / name, image.sha256):
            done(image.size)
            return Fetched(image=image, file=name, status="present")
        copy_to(channel, pb.StreamFileRequest(file_id=image.file_id, job_id=job_id), folder / name, expect=image.sha256)
    except grpc.RpcError as exc:
        return Fetched(image=image, file="", status="error", error=f"{exc.code().name}: {exc.details()}")
    except (ValueError, TransferError, OSError) as exc:
        return Fetched(image=image, file="", status="error", error=str(exc))
    done(image.size)
    return Fetched(image=image, file=name, status="fetched")


def outcome_counts(results: list[Fetched]) -> dict[str, int]:
    """How many images were fetched, already present, and failed."""
    return {status: sum(r.status == status for r in results) for status in ("fetched", "present", "error")}


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder for one run; FolderRefused while another holds it. Temporary files left in it by a run that
    ended without cleaning up (killed, power lost) are removed once it is held."""
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderRefused(f"another fetch-images is writing to {folder}") from None
        for stale in folder.glob(".*.part"):
            stale.unlink()
        yield
    finally:
        os.close(fd)


def _run_claim(folder: Path, job_id: int, wanted: dict) -> None:
    """Refuse a folder that holds another job's or another filter's images (its manifest would then describe only
    part of it)."""
    try:
        earlier = json.loads((folder / RUN).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise FolderRefused(f"{folder / RUN} cannot be read ({exc}): choose another folder") from None
    if (earlier.get("job_id"), earlier.get("filter")) != (job_id, wanted):
        raise FolderRefused(
            f"{folder} holds the images of job {earlier.get('job_id')} with filter {earlier.get('filter') or 'none'}: "
            "choose another folder"
        )


def _run_save(folder: Path, run: dict[str, object]) -> None:
    write_new(folder / RUN, lambda out: out.write(json.dumps(run, indent=2).encode() + b"\n"))


def images_fetch(
    channel: grpc.Channel,
    *,
    job_id: int,
    folder: Path,
    parallel: int,
    done: Callable[[int], None],
    image_filter: pb.ImageFilter | None = None,
    listed: Callable[[list[pb.Image]], None] = lambda images: None,
) -> list[Fetched]:
    """Copy every image of the job that passes `image_filter` (ListImages' filter; None: every image) into `folder`
    (which must exist), `parallel` streams at a time, and write its manifest and run record there. `done(size)` is
    called, from any thread, for each image that is there and checked, `listed(images)` once they are known. One
    result per image, in path order; per-image failures are results. Raises FolderRefused for a folder in use by
    another run or holding another job's or filter's images, and grpc.RpcError for a failed listing."""
    image_filter = image_filter or pb.ImageFilter()
    wanted = MessageToDict(image_filter, preserving_proto_field_name=True)
    with _folder_lock(folder):
        _run_claim(folder, job_id, wanted)
        images = list(job_images(jobs_pb2_grpc.JobServiceStub(channel), job_id, image_filter))
        listed(images)
        run: dict[str, object] = {"job_id": job_id, "filter": wanted, "started": datetime.now(tz=UTC).isoformat()}
        _run_save(folder, {**run, "finished": None})  # claimed before the first copy lands
        lock = threading.Lock()

        def counted(size: int) -> None:
            with lock:
                done(size)

        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fetch") as pool:
            results = list(pool.map(lambda image: _fetch_one(channel, job_id, image, folder, counted), images))

        manifest = io.StringIO(newline="")
        records_write(manifest, (r.record() for r in results), fmt="csv", fields=MANIFEST_FIELDS)
        write_new(folder / MANIFEST, lambda out: out.write(manifest.getvalue().encode()))
        finished = {"finished": datetime.now(tz=UTC).isoformat(), "images": len(results), **outcome_counts(results)}
        _run_save(folder, {**run, **finished})
        folder_sync(folder)
    return results
