"""Discovery + EXIF throughput of a real job against the bare read-and-hash loop, in one process and its probe
processes.

Run by `benchmarks.run` as a subprocess, with DJANGO_SETTINGS_MODULE=scanner.settings.embedded (the Celery canvas
runs in-process, eagerly) and DATABASE_URL naming the database under test:

    python -m benchmarks.throughput --dataset photos-2000 --data-dir /work/bench-data --runs 3 --out result.json

The bare loop runs once first, untimed, so both sides start from the same warm page cache; then the two alternate,
`--runs` times each. The bare loop runs on one thread and, when discovery probes in more processes
(SCAN_PROBE_PROCESSES) or on more threads (SCAN_PROBE_THREADS), also on that many: the same parallelism on both
sides. The pipeline's CPU time is this process's and its probe processes'. Before every job the database is emptied
(job_delete), so no run finds results of an earlier one to reuse. `--scale` takes a scaled-down data set
(datasets.scaled). `--profile FILE` adds one more job, run under cProfile, and saves its stats.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

import django

from benchmarks import proctree
from benchmarks.bare import hash_tree
from benchmarks.datasets import ALL, scaled

# A job that has not ended after this long is reported as a failure of the benchmark.
JOB_DEADLINE = 1800.0


def _wait_until_final(job_id: int, *, deadline: float) -> None:
    """The embedded start returns when the job has ended; this also holds if stages run outside the call."""
    from jobs.models import Job

    while Job.objects.filter(pk=job_id).exclude(status__in=Job.FINAL).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not end within {JOB_DEADLINE:.0f} s")
        time.sleep(0.005)


def _bare_once(root: Path, threads: int) -> tuple[float, float]:
    cpu = time.process_time()
    wall = hash_tree(str(root), threads).seconds
    return wall, time.process_time() - cpu


def _cpu_with_probe_processes() -> float:
    """CPU seconds of this process and of the processes it started (the probe workers live across jobs)."""
    return time.process_time() + sum(proctree.cpu_seconds(proctree.descendants(os.getpid())).values())


def _pipeline_once(root: Path, *, files: int, images: int) -> tuple[float, float]:
    """(Wall-clock, CPU) seconds of this process and its probe processes for one complete job, from job_create to
    the job's end."""
    from jobs.lifecycle import job_start
    from jobs.models import Job
    from jobs.progress.snapshot import job_progress_snapshot
    from jobs.services import job_create, job_delete

    for old in Job.objects.all():
        job_delete(job=old)
    started, cpu = time.perf_counter(), _cpu_with_probe_processes()
    job = job_create(name=f"benchmark {root.name}", source_path=root, stages=["exif"])
    job_start(job=job)
    _wait_until_final(job.pk, deadline=time.monotonic() + JOB_DEADLINE)
    seconds, cpu = time.perf_counter() - started, _cpu_with_probe_processes() - cpu
    s = job_progress_snapshot(job_id=job.pk)
    (exif,) = s["stages"]
    outcome = (s["status"], s["files_seen"], s["images"], s["errors"], exif["total"], exif["done"])
    if outcome != ("completed", files, images, 0, images, images):
        raise RuntimeError(
            f"job {job.pk} did not scan {root} as expected: (status, files, images, errors, exif total, exif done) = "
            f"{outcome}, expected {('completed', files, images, 0, images, images)}"
        )
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    django.setup()
    from django.conf import settings
    from django.db import connection

    dataset = scaled(next(d for d in ALL if d.name == args.dataset), args.scale)
    root = dataset.root(args.data_dir)
    threads = settings.SCAN_PROBE_PROCESSES or settings.SCAN_PROBE_THREADS
    expected = {"files": dataset.files, "images": dataset.images}

    warm = hash_tree(str(root))
    if warm.files != dataset.files:
        raise RuntimeError(f"{root}: {warm.files} files, expected {dataset.files}")
    bare, bare_threads, pipeline = [], [], []
    for _ in range(args.runs):
        bare.append(_bare_once(root, 1))
        if threads > 1:
            bare_threads.append(_bare_once(root, threads))
        pipeline.append(_pipeline_once(root, **expected))
        print(
            f"  {dataset.name} {connection.vendor}: bare {bare[-1][0]:.2f} s (CPU {bare[-1][1]:.2f} s), "
            + (f"bare on {threads} threads {bare_threads[-1][0]:.2f} s, " if threads > 1 else "")
            + f"pipeline {pipeline[-1][0]:.2f} s (CPU {pipeline[-1][1]:.2f} s)",
            flush=True,
        )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        _pipeline_once(root, **expected)
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile), stream=sys.stdout).sort_stats("tottime").print_stats(25)

    args.out.write_text(
        json.dumps(
            {
                "dataset": dataset.name,
                "database": connection.vendor,
                "probe_parallel": threads,
                "probe_kind": "process" if settings.SCAN_PROBE_PROCESSES else "thread",
                "files": warm.files,
                "bytes": warm.bytes,
                "bare": bare,
                "bare_threads": bare_threads or bare,
                "pipeline": pipeline,
            }
        )
    )


if __name__ == "__main__":
    main()
