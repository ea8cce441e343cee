"""gRPC API benchmark: ListImages page latency on a job of 50,000 images at several depths, and StreamFile
throughput against reading the same file directly.

Pages: the 50,000 rows (images, file instances, EXIF results) are bulk-created directly. Each call goes through a
real `manage.py grpcserver` subprocess (token check, tenancy, keyset page, the images' EXIF and provenance) and
is timed at the client, from request to decoded response; the page token for a depth is made for the row just
before it, exactly as the previous page's would be.

Files: a file of random bytes, recorded as a file instance with its SHA-256. Every reader ends with bytes it can
trust to be the scanned content. "Direct" reads the file in 1 MiB blocks and must hash it itself. "StreamFile"
receives it over loopback: the server hashes what it sends and ends the stream with DATA_LOSS instead of the
trailer if that is not the recorded SHA-256, so over TLS a client that received the trailer (and checked it
against the header's recorded hash) holds verified bytes; the rows "client re-hashes" hash the received bytes again,
as `manage.py ctl fetch` does. All run interleaved, page cache warm, best of several runs. Goal: StreamFile >= 0.8x
direct.

Run: `python -m benchmarks.grpc`. Uses its own database (BENCH_GRPC_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_grpc), recreated on every run; writes bench-results/grpc.md.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_GRPC_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_grpc")
IMAGES = 50_000
PAGE = 100
DEPTHS = (0.0, 0.1, 0.5, 0.9, 0.999)
REPEATS = 9
FILE_MIB = int(os.environ.get("BENCH_GRPC_FILE_MIB", "256"))
FILE_RUNS = 5
CHUNKS = (1024 * 1024, 3 * 1024 * 1024)
RESULTS = REPO / "bench-results" / "grpc.md"

os.environ.update(
    DJANGO_SETTINGS_MODULE="scanner.settings.distributed",
    DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "benchmark-only"),
    DATABASE_URL=DATABASE_URL,
    CELERY_BROKER_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
    REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
    LOG_LEVEL="ERROR",
)


def _recreate_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _populate(owner):
    """A completed job of IMAGES distinct images, each at one path, with an EXIF result (every 4th with GPS)."""
    from extractors.registry import get_registry
    from gallery.models import ExifData, Image, StageResult
    from jobs.models import FileInstance, Job, JobImage, StageProgress

    version = get_registry().versions()["exif"]
    job = Job.objects.create(
        name="bench", owner=owner, source_path="/nonexistent", status=Job.Status.COMPLETED,
        config={"stages": ["exif"], "versions": {"exif": version}}, files_seen=IMAGES, images=IMAGES,
        distinct_images=IMAGES, discovery_finished=True,
    )  # fmt: skip
    StageProgress.objects.create(job=job, stage="exif", total=IMAGES, done=IMAGES)
    now = datetime.now(tz=UTC)
    step = 5000
    for start in range(0, IMAGES, step):
        numbers = range(start, min(start + step, IMAGES))
        shas = {n: hashlib.sha256(f"bench-{n}".encode()).hexdigest() for n in numbers}
        Image.objects.bulk_create(
            Image(
                sha256=shas[n], md5=shas[n][:32], sha1=shas[n][:40], size=200_000 + (n * 7919) % 5_000_000,
                mime="image/jpeg", format="JPEG", raw_width=4000, raw_height=3000, width=4000, height=3000,
                mode="RGB", bit_depth=8,
            )
            for n in numbers
        )  # fmt: skip
        ids = dict(Image.objects.filter(sha256__in=shas.values()).values_list("sha256", "id"))
        FileInstance.objects.bulk_create(
            FileInstance(
                job=job, path=f"DCIM/{n // 1000:03d}/IMG_{n:06d}.JPG",
                path_digest=hashlib.sha256(f"{n}".encode()).hexdigest(), kind="file", size=200_000, mtime=now,
                mime="image/jpeg", status="image", sha256=shas[n], md5=shas[n][:32], sha1=shas[n][:40],
                image_id=ids[shas[n]],
            )
            for n in numbers
        )  # fmt: skip
        JobImage.objects.bulk_create(JobImage(job=job, image_id=ids[shas[n]]) for n in numbers)
        results = StageResult.objects.bulk_create(
            StageResult(image_id=ids[shas[n]], stage="exif", extractor_version=version, status="done") for n in numbers
        )
        ExifData.objects.bulk_create(
            ExifData(
                result=r, image_id=r.image_id, camera_make="Canon", camera_model=f"EOS {n % 7}D",
                datetime_original=f"2023-0{n % 9 + 1}-1{n % 10}T10:00:00", orientation=1,
                tags={"IFD0": {"Make": "Canon", "Model": f"EOS {n % 7}D"}, "Exif": {"ExposureTime": [1, 125]}},
                gps_lat=51.5 + n / 1e6 if n % 4 == 0 else None, gps_lon=-0.12 if n % 4 == 0 else None,
            )
            for n, r in zip(numbers, results, strict=True)
        )  # fmt: skip
    return job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "grpcserver", "--port", str(port), *args],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    line = process.stdout.readline().decode()
    if "gRPC API on" not in line:
        raise RuntimeError(f"the server did not start: {line}{process.stdout.read().decode()}")
    return process, port


def _cursor_token(job, position: int) -> str:
    """The page token of the page that starts at `position` in path order."""
    from api.pagetokens import page_token_encode
    from gallery import selectors

    if position == 0:
        return ""
    key = list(selectors._first_instances(job).order_by("sort_path", "id").values_list("sort_path", "id")[position - 1])
    return page_token_encode(listing="images", scope={"job": job.pk, "order": "path"}, key=selectors._encode(key))


def _time_pages(stub, job) -> list[tuple[float, float, float, int]]:
    from imagescanner.v1 import jobs_pb2 as pb

    rows = []
    for depth in DEPTHS:
        token = _cursor_token(job, min(int(IMAGES * depth), IMAGES - 1))
        request = pb.ListImagesRequest(job_id=job.pk, page_size=PAGE, page_token=token)
        stub.ListImages(request)  # warm
        times, count = [], 0
        for _ in range(REPEATS):
            started = time.perf_counter()
            count = len(stub.ListImages(request).images)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((depth, statistics.median(times), max(times), count))
    return rows


def _direct(path: Path) -> float:
    digest = hashlib.sha256()
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fp:
        while block := fp.read(1 << 20):
            digest.update(block)
    elapsed = time.perf_counter() - started
    return elapsed


def _streamed(stub, file_id: int, chunk: int, sha256: str, rehash: bool) -> float:
    from imagescanner.v1 import jobs_pb2 as pb

    digest = hashlib.sha256()
    started = time.perf_counter()
    header = trailer = None
    size = 0
    for message in stub.StreamFile(pb.StreamFileRequest(file_id=file_id, chunk_size=chunk)):
        if message.data:
            size += len(message.data)
            if rehash:
                digest.update(message.data)
        elif message.HasField("header"):
            header = message.header.sha256
        else:
            trailer = message.trailer
    elapsed = time.perf_counter() - started
    if trailer is None or trailer.sha256 != header or header != sha256 or trailer.size != size:
        raise AssertionError("StreamFile did not end with the recorded SHA-256")
    if rehash and digest.hexdigest() != sha256:
        raise AssertionError("StreamFile sent other bytes than the file holds")
    return elapsed


def _evidence_file(owner, root: Path):
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
    st = path.stat()
    job = Job.objects.create(name="files", owner=owner, source_path=str(source), status=Job.Status.COMPLETED)
    return FileInstance.objects.create(
        job=job, path="disk.img", path_digest=hashlib.sha256(b"disk.img").hexdigest(), kind="file", size=st.st_size,
        inode=st.st_ino, mime="application/octet-stream", status="skipped", sha256=digest.hexdigest(),
    )  # fmt: skip


def _time_files(channels: dict[str, object], instance, path: Path) -> list[tuple[str, int, float, float]]:
    """(transport, chunk size, best MB/s, ratio to direct) per row, and the direct row first (chunk 0)."""
    from imagescanner.v1 import jobs_pb2_grpc

    stubs = {name: jobs_pb2_grpc.JobServiceStub(channel) for name, channel in channels.items()}
    size_mb = instance.size / 1e6
    direct: list[float] = []
    streamed: dict[tuple[str, int, bool], list[float]] = {
        (name, chunk, rehash): [] for name in stubs for chunk in CHUNKS for rehash in (False, True)
    }
    _direct(path)  # page cache warm
    for _ in range(FILE_RUNS):
        direct.append(_direct(path))
        for (name, chunk, rehash), times in streamed.items():
            times.append(_streamed(stubs[name], instance.pk, chunk, instance.sha256, rehash))
    best_direct = size_mb / min(direct)
    rows = [("direct read + SHA-256", 1 << 20, best_direct, 1.0)]
    for (name, chunk, rehash), times in streamed.items():
        rate = size_mb / min(times)
        label = f"StreamFile over {name}" + (", client re-hashes" if rehash else "")
        rows.append((label, chunk, rate, rate / best_direct))
    return rows


def main() -> None:
    _recreate_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from api.client import channel_open
    from api.services import api_token_create
    from imagescanner.v1 import jobs_pb2_grpc

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(username="bench", email="bench@example.org", is_staff=False)
    _, token = api_token_create(user=owner, name="bench")
    started = time.perf_counter()
    job = _populate(owner)
    populated = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would soon after a bulk load: plans need row counts

    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        folder = Path(tmp)
        cert, key = folder / "server.crt", folder / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        instance = _evidence_file(owner, folder)
        local, local_port = _server({}, "--insecure")
        tls, tls_port = _server({"GRPC_TLS_CERT": str(cert), "GRPC_TLS_KEY": str(key)})
        try:
            channels = {
                "TLS": channel_open(target=f"localhost:{tls_port}", token=token, ca=cert.read_bytes()),
                "loopback without TLS": channel_open(target=f"localhost:{local_port}", token=token, local=True),
            }
            pages_tls = _time_pages(jobs_pb2_grpc.JobServiceStub(channels["TLS"]), job)
            pages_local = _time_pages(jobs_pb2_grpc.JobServiceStub(channels["loopback without TLS"]), job)
            files = _time_files(channels, instance, folder / "evidence" / "disk.img")
        finally:
            for process in (local, tls):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    lines = [
        "# gRPC API benchmark",
        "",
        f"ListImages: {IMAGES:,} images in one job (rows bulk-created in {populated:.0f} s), pages of {PAGE} images "
        "with their EXIF and provenance, path order, through `manage.py grpcserver` on this machine, timed at the "
        f"client. Median of {REPEATS} calls per depth.",
        "",
        "| depth | TLS median ms | TLS max ms | no TLS median ms | no TLS max ms | images |",
        "|---|---|---|---|---|---|",
        *[
            f"| {depth:.1%} | {a[1]:.1f} | {a[2]:.1f} | {b[1]:.1f} | {b[2]:.1f} | {a[3]} |"
            for depth, a, b in ((a[0], a, b) for a, b in zip(pages_tls, pages_local, strict=True))
        ],
        "",
        f"StreamFile: a {FILE_MIB} MiB file, page cache warm, best of {FILE_RUNS} interleaved runs; the server hashes "
        "every byte it sends, the direct reader every byte it reads. Goal: >= 0.8x direct.",
        "",
        "| reader | chunk | MB/s | x direct |",
        "|---|---|---|---|",
        *[f"| {name} | {chunk // 1024} KiB | {rate:.0f} | {ratio:.2f} |" for name, chunk, rate, ratio in files],
        "",
    ]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
