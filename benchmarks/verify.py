"""Re-verification throughput: `python -m benchmarks.verify [--files 3000] [--repeat 3]`.

A source of `--files` files (mostly 4 KB to 256 KB, every 100th 2 MB: the scan reads the large ones a megabyte at a
time) is scanned once (discovery in this process, no stage), then verified (verification.services: the walk, the
reads and hashes on VERIFY_THREADS threads, the manifest looked up a batch at a time, the run's counts written)
and hashed by a bare loop: MD5, SHA-1 and SHA-256 with hashlib over the same files in the same order, read as the
scan reads them (whole up to a megabyte, else a megabyte at a time), on one thread, with no database. The page cache
is warm for both (each runs once first); best of `--repeat` runs, alternating. Goal: verify >= 0.8x the bare loop.
Verify on one thread is measured too, to show what the threads add.

The database is its own, dropped and made again on each run (BENCH_VERIFY_DATABASE_URL, default: DATABASE_URL's
name with _bench_verify). Results go to stdout and bench-results/verify.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.environment import distributed_environment
from benchmarks.ml import ROOT, discover, drop_database, report_save, reset_database, timed

OUTPUT = ROOT / "bench-results" / "verify.md"
MEGABYTE = 1024 * 1024
GOAL = 0.8


def bench_database_url() -> str:
    explicit = os.environ.get("BENCH_VERIFY_DATABASE_URL")
    if explicit:
        return explicit
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner"))
    return urlunsplit(base._replace(path=f"{base.path.rstrip('/')}_bench_verify"))


def make_files(source: Path, count: int) -> list[Path]:
    """`count` files of random bytes in folders of 500, in the walk's order (names sorted bytewise)."""
    rng = random.Random(7)
    paths = []
    for i in range(count):
        path = source / f"d{i // 500:03d}" / f"f{i:06d}.bin"
        path.parent.mkdir(exist_ok=True)
        size = 2 * MEGABYTE if i % 100 == 99 else rng.randint(4 * 1024, 256 * 1024)
        path.write_bytes(rng.randbytes(size))
        paths.append(path)
    return paths


def bare_hashes(paths: Sequence[Path]) -> int:
    """MD5, SHA-1 and SHA-256 of every file, read as the scan reads it, one file after another; bytes read."""
    total = 0
    for path in paths:
        md5, sha1, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False), hashlib.sha256()
        with open(path, "rb") as fp:
            whole = os.fstat(fp.fileno()).st_size <= MEGABYTE
            blocks = [fp.read()] if whole else iter(functools.partial(fp.read, MEGABYTE), b"")
            for block in blocks:
                md5.update(block)
                sha1.update(block)
                sha256.update(block)
                total += len(block)
        md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
    return total


def verify_once(job, threads: int) -> None:
    from django.conf import settings

    from audit.models import AuditEvent
    from audit.services import Actor
    from verification.services import verification_execute, verification_start

    settings.VERIFY_THREADS = threads
    run = verification_start(job=job, actor=Actor(AuditEvent.Via.CLI, username="benchmark"))
    run = verification_execute(run_id=run.pk)
    assert (run.status, run.verified, run.not_verified) == ("done", job.files_seen, 0), run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    database = bench_database_url()
    reset_database(database)
    distributed_environment(database_url=database, broker_url="memory://", PROGRESS_EVENTS="false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    threads = settings.VERIFY_THREADS
    try:
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as work:
            source = Path(work) / "source"
            source.mkdir()
            paths = make_files(source, args.files)
            job, _ = discover(source)
            job.refresh_from_db()
            size = bare_hashes(paths)  # warms the page cache for both
            verify_once(job, threads)
            best = {"bare": float("inf"), "verify": float("inf"), "verify1": float("inf")}
            for _ in range(args.repeat):
                best["bare"] = min(best["bare"], timed(lambda: bare_hashes(paths))[0])
                best["verify"] = min(best["verify"], timed(lambda: verify_once(job, threads))[0])
                best["verify1"] = min(best["verify1"], timed(lambda: verify_once(job, 1))[0])
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(database)
    mb = size / MEGABYTE
    rows = [
        ("bare hash loop (hashlib, 1 thread)", best["bare"]),
        (f"verify ({threads} threads)", best["verify"]),
        ("verify (1 thread)", best["verify1"]),
    ]
    ratio = best["bare"] / best["verify"]
    lines = [
        "# Re-verification throughput",
        "",
        f"- host: {platform.node()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        f"- {args.files} files, {mb:.0f} MB; warm page cache; best of {args.repeat}, alternating",
        "",
        "| | seconds | files/s | MB/s | vs bare |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {seconds:.2f} | {args.files / seconds:.0f} | {mb / seconds:.0f} | "
            f"{best['bare'] / seconds:.2f}x |"
            for name, seconds in rows
        ),
        "",
        f"verify / bare = {ratio:.2f}x (goal >= {GOAL}x): {'met' if ratio >= GOAL else 'NOT met'}",
    ]
    report_save(lines, OUTPUT)


if __name__ == "__main__":
    main()
