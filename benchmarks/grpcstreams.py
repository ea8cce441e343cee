"""StreamFile throughput and `ctl fetch-images` for benchmarks.grpc, each against reading the same files directly.

Files: a file of random bytes, recorded as a file instance with its SHA-256. Two direct readers set the baselines,
both reading the file in 1 MiB blocks into one buffer: "plain read" only reads; "read + SHA-256" also hashes, as a
reader must to trust the bytes are the scanned content. The goal (StreamFile >= 0.8x reading the file directly) is
judged against "read + SHA-256": a StreamFile client gets that assurance too, since the server hashes what it sends
and ends the stream with DATA_LOSS instead of the trailer if that is not the recorded SHA-256 (over TLS a client that
received the trailer, and checked it against the header's recorded hash, holds verified bytes). No transport can
reach 0.8x a plain read here: SHA-256 alone runs at a fraction of the speed of reading a cached file, so that column
is for information. StreamFile rows receive the file over loopback with the project's client
(`api.filestream.file_stream`, as `manage.py ctl fetch`); the rows "client re-hashes" hash the received bytes again,
as `ctl fetch` does, and "generated stub" parses every message with protobuf. Rows "from disk" drop the file from
the page cache first (posix_fadvise DONTNEED), as evidence usually is, and are compared with the direct readers
from disk; the others find it cached. All run interleaved, best of several runs; servers with GRPC_STREAM_READ_AHEAD
off and on. Each row also gives the CPU time per GB of the reading process and of the server, read from /proc before
and after each timed run, and of each one's busiest thread, from one more run that polls every thread (polling costs
CPU, so that run is not timed): unlike throughput, CPU hardly depends on what else the machine runs, and it says
what the cores allow.

Many images: a job of 64 images of 4 MiB copied out by `ctl fetch-images` (api.fetch.images_fetch: listing,
one StreamFile per image, a SHA-256 at the client, a flush to disk), one stream at a time and four, against copying
the same files directly (read, SHA-256, write, fsync): what a call costs besides its bytes shows here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from benchmarks import proctree

FILE_MIB = int(os.environ.get("BENCH_GRPC_FILE_MIB", "256"))
FILE_RUNS = 5
BARE = "gRPC alone: ready-made messages, no file, no hash, loopback without TLS"
FROM_DISK = ", from disk"  # rows that read the file after it was dropped from the page cache
SMALL_CHUNK = 1024 * 1024  # a chunk a third of the default, for comparison
# `ctl fetch-images`: a job of this many images of this size (a camera's JPEG), copied out over the API.
MANY_IMAGES = int(os.environ.get("BENCH_GRPC_IMAGES", "64"))
IMAGE_MIB = 4
IMAGE_RUNS = 3


def _direct(path: Path, sha256: str, hashed: bool) -> float:
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fp:
        while read := fp.readinto(buffer):
            if hashed:
                digest.update(view[:read])
    elapsed = time.perf_counter() - started
    if hashed and digest.hexdigest() != sha256:
        raise AssertionError("the file changed")
    return elapsed


def _streamed(channel, file_id: int, chunk: int, sha256: str, rehash: bool, stub: bool) -> float:
    from api.filestream import file_stream
    from imagescanner.v1 import jobs_pb2 as pb
    from imagescanner.v1 import jobs_pb2_grpc

    request = pb.StreamFileRequest(file_id=file_id, chunk_size=chunk)
    digest = hashlib.sha256()
    started = time.perf_counter()
    header = trailer = None
    size = 0
    if stub:
        parts = (
            m.data if m.WhichOneof("part") == "data" else m
            for m in jobs_pb2_grpc.JobServiceStub(channel).StreamFile(request)
        )
    else:
        parts = file_stream(channel, request)
    for part in parts:
        if isinstance(part, bytes | memoryview):
            size += len(part)
            if rehash:
                digest.update(part)
        elif part.HasField("header"):
            header = part.header.sha256
        else:
            trailer = part.trailer
    elapsed = time.perf_counter() - started
    if trailer is None or trailer.sha256 != header or header != sha256 or trailer.size != size:
        raise AssertionError("StreamFile did not end with the recorded SHA-256")
    if rehash and digest.hexdigest() != sha256:
        raise AssertionError("StreamFile sent other bytes than the file holds")
    return elapsed


def _case(owner):
    """A case of the benchmark's own, the owner its lead."""
    from cases.services import case_create

    return case_create(reference=f"bench-{uuid.uuid4().hex}", title="benchmark", owner=owner)


def evidence_file(owner, root: Path):
    from jobs.models import FileInstance, Job

    source = root / "evidence"
    source.mkdir(parents=True)
    path = source / "disk.img"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(FILE_MIB):
            block = os.urandom(1 << 20)
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())  # clean pages: the "from disk" rows can drop them from the page cache
    st = path.stat()
    job = Job.objects.create(
        name="files", owner=owner, case=_case(owner), source_path=str(source), status=Job.Status.COMPLETED
    )
    return FileInstance.objects.create(
        job=job, path="disk.img", path_digest=hashlib.sha256(b"disk.img").hexdigest(), kind="file", size=st.st_size,
        inode=st.st_ino, mime="application/octet-stream", status="skipped", sha256=digest.hexdigest(),
    )  # fmt: skip


class _BusiestThread:
    """The CPU time of a process's busiest thread while the block ran. Threads that end inside the block
    (StreamFile's read-ahead) are seen by polling, which costs CPU itself: only for runs that are not timed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seconds = 0.0

    def __enter__(self) -> _BusiestThread:
        self._before = proctree.thread_cpu_seconds(self.pid)
        self._seen: dict[int, float] = {}
        self._done = threading.Event()
        self._poller = threading.Thread(target=self._poll)
        self._poller.start()
        return self

    def _poll(self) -> None:
        while not self._done.wait(0.02):
            self._seen.update(proctree.thread_cpu_seconds(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._poller.join()
        last = {**self._seen, **proctree.thread_cpu_seconds(self.pid)}
        used = {tid: cpu - self._before.get(tid, 0.0) for tid, cpu in last.items()}
        self.seconds = max(used.values())


def _from_disk(path: Path, read, *args):
    """`read(*args)`, each time after dropping `path` from the page cache, so that it reads from the disk."""

    def cold() -> float:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return read(*args)

    return cold


def _bare(channel, size: int) -> float:
    from benchmarks.grpcbare import bare_stream

    started = time.perf_counter()
    received = bare_stream(channel)
    elapsed = time.perf_counter() - started
    if received != size:
        raise AssertionError(f"the bare stream carried {received} bytes, not {size}")
    return elapsed


def time_files(channels: dict[str, tuple[object, int]], bare: tuple[object, int], instance, path: Path) -> list[tuple]:
    """(reader, chunk size, best MB/s, ratio to read + SHA-256, ratio to a plain read, then the least CPU s/GB of
    the reading process, its busiest thread, the server, and the server's busiest thread) per row, the direct rows
    first."""
    from django.conf import settings

    size_gb = instance.size / 1e9
    readers: dict[tuple[str, int], tuple[object, int | None]] = {
        ("direct: plain read", 1 << 20): (lambda: _direct(path, instance.sha256, hashed=False), None),
        ("direct: read + SHA-256", 1 << 20): (lambda: _direct(path, instance.sha256, hashed=True), None),
        (f"direct: plain read{FROM_DISK}", 1 << 20): (_from_disk(path, _direct, path, instance.sha256, False), None),
        (f"direct: read + SHA-256{FROM_DISK}", 1 << 20): (
            _from_disk(path, _direct, path, instance.sha256, True),
            None,
        ),
    }

    def stream(channel, chunk: int, rehash: bool = False, stub: bool = False):
        return lambda: _streamed(channel, instance.pk, chunk, instance.sha256, rehash, stub)

    default = settings.GRPC_STREAM_CHUNK_BYTES
    readers[(BARE, default)] = (lambda: _bare(bare[0], instance.size), bare[1])
    for name, (channel, pid) in channels.items():
        if name.endswith("read-ahead"):
            readers[(f"StreamFile over {name}", default)] = (stream(channel, default), pid)
            readers[(f"StreamFile over {name}{FROM_DISK}", default)] = (
                _from_disk(path, _streamed, channel, instance.pk, default, instance.sha256, False, False),
                pid,
            )
            continue
        readers[(f"StreamFile over {name}", default)] = (stream(channel, default), pid)
        readers[(f"StreamFile over {name}, client re-hashes", default)] = (stream(channel, default, rehash=True), pid)
        readers[(f"StreamFile over {name}", SMALL_CHUNK)] = (stream(channel, SMALL_CHUNK), pid)
        readers[(f"StreamFile over {name}, generated stub", default)] = (stream(channel, default, stub=True), pid)
    runs: dict[tuple[str, int], list[tuple[float, ...]]] = {key: [] for key in readers}
    for read, _ in readers.values():
        read()  # page cache and connections warm
    for _ in range(FILE_RUNS):
        for key, (read, pid) in readers.items():
            reader, server = time.process_time(), proctree.cpu_seconds([pid])[pid] if pid else 0.0
            elapsed = read()
            reader, server = time.process_time() - reader, proctree.cpu_seconds([pid])[pid] - server if pid else 0.0
            runs[key].append((elapsed, reader, server))
    best = {key: [min(column) for column in zip(*got, strict=True)] for key, got in runs.items()}
    for key, (read, pid) in readers.items():  # one more run each, untimed, to see the busiest threads
        with _BusiestThread(os.getpid()) as reader, _BusiestThread(pid or os.getpid()) as server:
            read()
        elapsed, reader_cpu, server_cpu = best[key]
        best[key] = [elapsed, reader_cpu, reader.seconds, server_cpu, server.seconds if pid else 0.0]
    rows = []
    for (label, chunk), (elapsed, *cpus) in best.items():
        cache = FROM_DISK if label.endswith(FROM_DISK) else ""  # compared with direct reads from the same place
        plain = size_gb / best[(f"direct: plain read{cache}", 1 << 20)][0]
        hashed = size_gb / best[(f"direct: read + SHA-256{cache}", 1 << 20)][0]
        rate = size_gb / elapsed
        rows.append((label, chunk, rate * 1000, rate / hashed, rate / plain, *(c / size_gb for c in cpus)))
    return rows


def ceiling(files: list[tuple]) -> str:
    """What the bare stream's CPU and the direct reader's leave for StreamFile on this machine's cores."""
    rows = {row[0]: row for row in files}
    bare, direct = rows[BARE], rows["direct: read + SHA-256"]
    need = bare[5] + bare[7] + direct[5]
    cores = len(os.sched_getaffinity(0))
    return (
        f"gRPC alone costs {bare[5]:.2f} CPU-s/GB at the client and {bare[7]:.2f} at the server; with the "
        f"{direct[5]:.2f} that reading and hashing cost the direct reader, a StreamFile needs about {need:.2f} "
        f"CPU-s/GB between its two ends. On {cores} cores shared by both that allows at most "
        f"{cores / need * 1000:.0f} MB/s, {cores / need / (direct[2] / 1000):.2f}x the direct reader, before any "
        "moment a core waits for a thread."
    )


def image_job(owner, root: Path):
    """A job of MANY_IMAGES distinct files of IMAGE_MIB MiB under root/images, listed as its images."""
    from content.models import Image
    from jobs.models import FileInstance, Job, JobImage

    source = root / "images"
    source.mkdir()
    job = Job.objects.create(
        name="images", owner=owner, case=_case(owner), source_path=str(source), status=Job.Status.COMPLETED
    )
    paths = []
    for n in range(MANY_IMAGES):
        data = os.urandom(IMAGE_MIB << 20)
        path = source / f"IMG_{n:04d}.JPG"
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        image = Image.objects.create(
            sha256=sha, md5=sha[:32], sha1=sha[:40], size=len(data), mime="image/jpeg", format="JPEG",
            raw_width=4000, raw_height=3000, width=4000, height=3000, mode="RGB",
        )  # fmt: skip
        FileInstance.objects.create(
            job=job, path=path.name, path_digest=hashlib.sha256(path.name.encode()).hexdigest(), kind="file",
            size=len(data), inode=path.stat().st_ino, mime="image/jpeg", status="image", sha256=sha, image=image,
        )  # fmt: skip
        JobImage.objects.create(job=job, image=image)
        paths.append(path)
    return job, paths


def _copy_direct(paths: list[Path], folder: Path) -> None:
    """What copying the images off the evidence share takes: read, SHA-256, write and flush to disk, per image."""
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as fp, open(folder / path.name, "wb") as out:
            while block := fp.read(1 << 20):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())


def time_images(channel, job, paths: list[Path], root: Path) -> list[tuple[str, float, float, float]]:
    """(reader, MB/s, ratio to the direct copy, ms per image): best of IMAGE_RUNS interleaved runs, each into an
    empty folder."""
    from api.fetch import images_fetch

    def fetch(parallel: int):
        def run(folder: Path) -> None:
            results = images_fetch(channel, job_id=job.pk, folder=folder, parallel=parallel, done=lambda size: None)
            if any(r.status != "fetched" for r in results):
                raise AssertionError(f"fetch-images failed: {results}")

        return run

    readers = {
        "direct copy: read + SHA-256 + write + fsync": lambda folder: _copy_direct(paths, folder),
        "ctl fetch-images, 1 stream at a time": fetch(1),
        "ctl fetch-images, 4 streams at a time (the default)": fetch(4),
    }
    best: dict[str, float] = {}
    for run in range(IMAGE_RUNS):
        for name, read in readers.items():
            folder = root / f"copy-{run}-{len(best)}"
            folder.mkdir()
            started = time.perf_counter()
            read(folder)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
            shutil.rmtree(folder)
    size = MANY_IMAGES * (IMAGE_MIB << 20)
    direct = best["direct copy: read + SHA-256 + write + fsync"]
    return [(name, size / t / 1e6, direct / t, t * 1000 / MANY_IMAGES) for name, t in best.items()]
