"""gRPC API benchmark: ListImages page latency on a job of 50,000 images at several depths, and StreamFile
throughput against reading the same file directly.

Pages: the 50,000 rows (images, file instances, EXIF results) are bulk-created directly (benchmarks.jobrows).
Each call goes through a real `manage.py grpcserver` subprocess (token check, tenancy, keyset page, the images' EXIF
and provenance) and is timed at the client, from request to decoded response; the page token for a depth is made
for the row just before it, exactly as the previous page's would be.

StreamFile and `ctl fetch-images` are measured as benchmarks.grpcstreams says.

Run: `python -m benchmarks.grpc [--files-only]`. Uses its own database (BENCH_GRPC_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_grpc), recreated on every run, and Redis BENCH_REDIS_URL (default
redis://127.0.0.1:6379/3); writes bench-results/grpc.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import grpcstreams, jobrows
from benchmarks.environment import distributed_environment, results_write
from benchmarks.grpcstreams import FILE_MIB, FILE_RUNS, IMAGE_MIB, IMAGE_RUNS, MANY_IMAGES
from benchmarks.jobrows import DEPTHS, IMAGES

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_GRPC_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_grpc")
PAGE = 100
REPEATS = 9
RESULTS = REPO / "bench-results" / "grpc.md"

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
distributed_environment(database_url=DATABASE_URL, broker_url=REDIS, REDIS_URL=REDIS, log_level="ERROR")


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
    from gallery import cursors, selectors

    if position == 0:
        return ""
    key = list(selectors._first_instances(job).order_by("sort_path", "id").values_list("sort_path", "id")[position - 1])
    return page_token_encode(listing="images", scope={"job": job.pk, "order": "path"}, key=cursors.cursor_encode(key))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files-only", action="store_true", help="only StreamFile (no 50,000-image job, no pages)")
    files_only = parser.parse_args().files_only
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    import grpc
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from api.client import RECEIVE_OPTIONS, channel_open
    from api.services import api_token_create
    from imagescanner.v1 import jobs_pb2_grpc

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(username="bench", email="bench@example.org", is_staff=False)
    _, token = api_token_create(user=owner, name="bench")
    started = time.perf_counter()
    job = None if files_only else jobrows.job_rows_create(owner, images=IMAGES)
    populated = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        folder = Path(tmp)
        cert, key = folder / "server.crt", folder / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        instance = grpcstreams.evidence_file(owner, folder)
        tls_env = {"GRPC_TLS_CERT": str(cert), "GRPC_TLS_KEY": str(key)}
        servers = {
            "TLS": (tls_env, ()),
            "loopback without TLS": ({}, ("--insecure",)),
            "TLS, read-ahead": (tls_env, ()),
            "loopback without TLS, read-ahead": ({}, ("--insecure",)),
        }
        bare_process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.grpcbare", str(settings.GRPC_STREAM_CHUNK_BYTES), str(instance.size)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        bare = (
            grpc.insecure_channel(f"127.0.0.1:{int(bare_process.stdout.readline())}", options=RECEIVE_OPTIONS),
            bare_process.pid,
        )
        started = {
            name: _server({**env, "GRPC_STREAM_READ_AHEAD": str(name.endswith("read-ahead"))}, *args)
            for name, (env, args) in servers.items()
        }
        try:
            channels = {
                name: (
                    channel_open(target=f"localhost:{port}", token=token, local=bool(args), ca=cert.read_bytes()),
                    process.pid,
                )
                for (name, (process, port)), (_, args) in zip(started.items(), servers.values(), strict=True)
            }
            if not files_only:
                pages_tls = _time_pages(jobs_pb2_grpc.JobServiceStub(channels["TLS"][0]), job)
                pages_local = _time_pages(jobs_pb2_grpc.JobServiceStub(channels["loopback without TLS"][0]), job)
            files = grpcstreams.time_files(channels, bare, instance, folder / "evidence" / "disk.img")
            image_job, image_paths = grpcstreams.image_job(owner, folder)
            images = grpcstreams.time_images(
                channels["loopback without TLS, read-ahead"][0], image_job, image_paths, folder
            )
        finally:
            bare_process.stdin.close()
            bare_process.wait(timeout=30)
            for process, _ in started.values():
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    lines = ["# gRPC API benchmark", ""]
    if not files_only:
        lines += [
            f"ListImages: {IMAGES:,} images in one job (rows bulk-created in {populated:.0f} s), pages of {PAGE} "
            "images with their EXIF and provenance, path order, through `manage.py grpcserver` on this machine, timed "
            f"at the client. Median of {REPEATS} calls per depth.",
            "",
            "| depth | TLS median ms | TLS max ms | no TLS median ms | no TLS max ms | images |",
            "|---|---|---|---|---|---|",
            *[
                f"| {depth:.1%} | {a[1]:.1f} | {a[2]:.1f} | {b[1]:.1f} | {b[2]:.1f} | {a[3]} |"
                for depth, a, b in ((a[0], a, b) for a, b in zip(pages_tls, pages_local, strict=True))
            ],
            "",
        ]
    lines += [
        f"StreamFile: a {FILE_MIB} MiB file, in the page cache (rows 'from disk': dropped from it before each run, "
        f"and compared with the direct readers from disk), best of {FILE_RUNS} interleaved runs, on "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end). The server hashes every byte it "
        "sends. **Goal: StreamFile >= 0.8x direct read + SHA-256** (the column that decides); x plain read is for "
        "information. CPU: seconds per GB moved, least of the timed runs, of the reading process (all its threads) "
        "and of the server process; the busiest thread of each, from one more untimed run that polls every thread "
        "(polling costs CPU that the timed runs would miss). A stream can go no faster than its busiest thread "
        "allows, however many cores are free; where client and server share few cores, their CPU together bounds "
        "it. Read-ahead: GRPC_STREAM_READ_AHEAD on (its default where the server has more than one CPU); the "
        "other StreamFile rows have it off.",
        "",
        "| reader | chunk | MB/s | x read + SHA-256 (goal) | x plain read | reader CPU | its busiest thread | "
        "server CPU | its busiest thread |",
        "|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {chunk // 1024} KiB | {rate:.0f} | {hashed:.2f} | {plain:.2f} | {reader:.2f} | "
            f"{reader_thread:.2f} | " + (f"{server:.2f} | {server_thread:.2f} |" if server else "- | - |")
            for name, chunk, rate, hashed, plain, reader, reader_thread, server, server_thread in files
        ],
        "",
        grpcstreams.ceiling(files),
        "",
        f"Many images: `ctl fetch-images` (api.fetch.images_fetch) copying a job of {MANY_IMAGES} images of "
        f"{IMAGE_MIB} MiB out over loopback without TLS (read-ahead), each hashed at both ends and flushed to disk, "
        f"against copying the same files directly; page cache warm, best of {IMAGE_RUNS} interleaved runs. Every "
        "call also pays for its token, its lookups and its two audit records.",
        "",
        "| reader | MB/s | x direct copy | ms per image |",
        "|---|---|---|---|",
        *[f"| {name} | {rate:.0f} | {ratio:.2f} | {ms:.1f} |" for name, rate, ratio, ms in images],
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
