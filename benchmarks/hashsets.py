"""Hash sets: importing a set of 10 million hashes (time, and the peak memory of the importing process), and a scan's
throughput with that set enabled against none, in one run.

The set is a plain list (one MD5, SHA-1 or SHA-256 a line, a third of each), generated once under BENCH_DATA_DIR;
it holds the SHA-256 of every tenth photo of the scanned data set, so that matching finds something. The import is
`manage.py hashsets import` as a lab runs it, a subprocess whose peak RSS is its own (goal: < 300 MB). The scan is
a real job (embedded configuration, exif stage, the Celery canvas in-process, as benchmarks.throughput runs it) on
BENCH_HASHSET_PHOTOS generated camera photos, best of N alternating runs with the set enabled and disabled (goal:
>= 0.95x).

Run: `python -m benchmarks.hashsets` (part of `make bench`). Uses its own database (BENCH_HASHSETS_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/scanner_bench_hashsets), recreated on every run; writes
bench-results/hashsets.md. `--entries` and `--photos` scale it down for a smoke test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import datasets, jobrows
from benchmarks.environment import results_write

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_HASHSETS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_hashsets"
)
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "/work/bench-data"))
RESULTS = REPO / "bench-results" / "hashsets.md"
RSS_GOAL_MB = 300
RUNS = 3


def _set_file(path: Path, entries: int, known: list[str]) -> Path:
    """`entries` random digests (MD5, SHA-1, SHA-256 in turn) and the `known` SHA-256s, one a line."""
    if path.exists() and path.stat().st_size > 0:
        return path
    rng = random.Random(22)
    lengths = (32, 40, 64)
    with open(path.with_suffix(".tmp"), "w") as out:
        out.write("\n".join(known) + "\n")
        for start in range(0, entries - len(known), 100_000):
            count = min(100_000, entries - len(known) - start)
            out.write("".join(f"{rng.getrandbits(4 * lengths[i % 3]):0{lengths[i % 3]}x}\n" for i in range(count)))
    path.with_suffix(".tmp").rename(path)
    return path


def _import(path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of `manage.py hashsets import` on `path`."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "hashsets", "import", str(path), "--name", "bench", "--kind", "known-bad"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _scan_once(root: Path, photos: int) -> float:
    from benchmarks.throughput import JOB_DEADLINE, _wait_until_final
    from jobs.lifecycle import job_start
    from jobs.models import Job
    from jobs.services import job_create, job_delete

    for old in Job.objects.all():
        job_delete(job=old)
    started = time.perf_counter()
    job = job_create(name="hash-set benchmark", source_path=root, stages=["exif"])
    job_start(job=job)
    _wait_until_final(job.pk, deadline=time.monotonic() + JOB_DEADLINE)
    job.refresh_from_db()
    if (job.status, job.images) != (Job.Status.COMPLETED, photos):
        raise RuntimeError(f"job {job.pk}: {job.status}, {job.images} images of {photos}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--photos", type=int, default=1000)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(DJANGO_SETTINGS_MODULE="scanner.settings.embedded", DATABASE_URL=DATABASE_URL, LOG_LEVEL="ERROR")
    os.environ.update(env)
    jobrows.database_recreate(DATABASE_URL)
    dataset = datasets.scaled(datasets.PHOTOS, args.photos / datasets.PHOTOS.files)
    root = datasets.ensure(dataset, DATA_DIR)
    photos = sorted(p for p in root.rglob("*") if p.is_file())
    known = [hashlib.sha256(p.read_bytes()).hexdigest() for p in photos[::10]]

    import django

    django.setup()
    from django.core.management import call_command

    from hashsets.models import HashSet
    from hashsets.services import hash_set_enable

    call_command("migrate", verbosity=0)
    set_file = _set_file(DATA_DIR / f"hashset-{args.entries}.txt", args.entries, known)
    seconds, rss = _import(set_file, env)
    hash_set = HashSet.objects.get(name="bench")

    enabled, disabled = [], []
    for _ in range(RUNS):
        hash_set_enable(hash_set=hash_set, enabled=False)
        disabled.append(_scan_once(root, len(photos)))
        hash_set_enable(hash_set=hash_set, enabled=True)
        enabled.append(_scan_once(root, len(photos)))
    from jobs.models import HashMatch

    matched = HashMatch.objects.count()
    ratio = min(disabled) / min(enabled)
    lines = [
        "# Hash-set benchmark",
        "",
        f"PostgreSQL on this machine. A plain list of {hash_set.entries:,} digests ({set_file.stat().st_size / 1e6:.0f}"
        f" MB), imported by `manage.py hashsets import`; then a scan of {len(photos):,} camera photos (exif stage, "
        f"embedded configuration), best of {RUNS} alternating runs with the set enabled and disabled.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| import of {hash_set.entries:,} hashes | {seconds:.0f} s ({hash_set.entries / seconds:,.0f} a second) | |",
        f"| peak RSS of the import | {rss:.0f} MB | < {RSS_GOAL_MB} MB |",
        f"| scan, no set enabled | {min(disabled):.2f} s | |",
        f"| scan, the {hash_set.entries:,}-hash set enabled ({matched} files matched) | {min(enabled):.2f} s | |",
        f"| throughput with the set / without | {ratio:.2f}x | >= 0.95x |",
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
