"""`make bench`: the scanner core against a bare read-and-hash loop, on generated evidence, in one run.

Every number is a ratio measured in the same run (the machine is shared, so absolute seconds mean little):

1. Discovery + EXIF throughput of a real job (job_create + job_start, embedded configuration: the Celery canvas
   runs in-process) against `benchmarks.bare` on the same files, best of N alternating runs after one untimed bare
   pass that warms the page cache. On PostgreSQL, and on SQLite where that is cheap. Discovery probes files in
   SCAN_PROBE_PROCESSES worker processes (the embedded default: one per CPU), or on SCAN_PROBE_THREADS threads when
   that is 0; the goal is judged against the bare loop on as many threads (the same parallelism on both sides), and
   the ratio to a single-threaded bare loop is reported beside it for information.
2. Peak RSS and files/s of `manage.py scan` on 100,000 tiny files, run as a subprocess (its own rusage, plus the
   peak memory and CPU of its probe processes, read from /proc).

Generated trees are kept under BENCH_DATA_DIR (default /work/bench-data) and rebuilt only when missing. The
databases are the benchmark's own and are recreated on every run: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/scanner_bench; its name must contain "bench") and an SQLite file in the data
directory. The table is printed and written to BENCH_RESULTS (default bench-results/scan.md).

A full run first generates about 6.5 GB of data (2 x 2,000 JPEGs, 100 TIFFs of 50 MB, 100,000 tiny files), then
reads it many times over. `--scale 0.02` runs every case on 2 % of the files, in trees of their own: a smoke test
of the benchmark, not numbers to compare with a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from benchmarks import datasets, proctree
from benchmarks.datasets import Dataset

REPO = Path(__file__).resolve().parent.parent
RSS_GOAL_MB = 300


@dataclass(frozen=True)
class ThroughputCase:
    label: str
    dataset: Dataset
    goal: float | None  # None: reported, no goal
    databases: tuple[str, ...]


THROUGHPUT_CASES = {
    "photos": ThroughputCase("1a 2,000 JPEG photos (1-3 MP)", datasets.PHOTOS, 0.6, ("postgresql", "sqlite")),
    # The goal's small photos are the camera-like ones above: 1-3 MP from a camera weigh 0.3-1.5 MB. Flat pictures
    # of the same size compress to 0.05 MB, so this case weighs the scan's cost per file (rows, EXIF) against
    # almost no hashing: reported, to follow that cost, not judged.
    "flat": ThroughputCase(
        "1a' 2,000 flat JPEGs from write_photo (1-3 MP)", datasets.FLAT_PHOTOS, None, ("postgresql", "sqlite")
    ),
    # The database sees 100 rows here: SQLite would only repeat the hashing, at two minutes a run.
    "tiff": ThroughputCase("1b 100 TIFFs of 50 MB", datasets.TIFFS, 0.9, ("postgresql",)),
}


@dataclass(frozen=True)
class Row:
    case: str
    database: str
    bare: str
    pipeline: str
    ratio: str
    cpu_ratio: str
    goal: str
    passed: bool | None  # None: reported, no goal


def _log(message: str) -> None:
    print(message, flush=True)


def _django_env(database_url: str) -> dict[str, str]:
    """The embedded configuration on the given database. Other settings (SCAN_*, DJANGO_DEBUG...) pass through, so
    their effect can be measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(DJANGO_SETTINGS_MODULE="scanner.settings.embedded", DATABASE_URL=database_url)
    return env


def _postgres_reset(url: str) -> None:
    """Drop and recreate the benchmark's own PostgreSQL database (the schema follows the migrations in the tree)."""
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate database {name!r}: BENCH_DATABASE_URL must name a benchmark database")
    admin = urlsplit(url)._replace(path="/postgres", query="").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _database_reset(database: str, url: str) -> None:
    if database == "postgresql":
        _postgres_reset(url)
    else:
        path = Path(urlsplit(url).path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=REPO, env=_django_env(url), check=True
    )


def _rate(files: int, size: int, seconds: float) -> str:
    return f"{files / seconds:,.0f} files/s, {size / seconds / 1e6:,.0f} MB/s"


_PLURAL = {"thread": "threads", "process": "processes"}


def _throughput(
    case: ThroughputCase, database: str, url: str, data_dir: Path, runs: int, profile: Path | None, scale: float
) -> list[Row]:
    """The judged row (the bare loop on as many threads as discovery probes with), and with more than one probe
    thread, the ratio to a single-threaded bare loop for information."""
    _database_reset(database, url)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable, "-m", "benchmarks.throughput", "--dataset", case.dataset.name,
            "--data-dir", str(data_dir), "--runs", str(runs), "--out", str(out), "--scale", str(scale),
        ]  # fmt: skip
        if profile is not None:
            command += ["--profile", str(profile / f"{case.dataset.name}-{database}.pstats")]
        subprocess.run(command, cwd=REPO, env=_django_env(url), check=True)
        result = json.loads(out.read_text())
    files, size, threads, probes = result["files"], result["bytes"], result["probe_parallel"], result["probe_kind"]
    label = case.label + (f" [scaled: {files:,} files]" if scale != 1 else "")
    if size < files * 1e6:
        label += f", {size / files / 1e6:.2f} MB avg"
    pipeline, pipeline_cpu = min(w for w, _ in result["pipeline"]), min(c for _, c in result["pipeline"])

    def row(bare_runs: list[list[float]], bare_threads: int, judged: bool) -> Row:
        bare, bare_cpu = min(w for w, _ in bare_runs), min(c for _, c in bare_runs)
        return Row(
            case=label,
            database=database,
            bare=f"{bare_threads} thread{'s' if bare_threads > 1 else ''}: {_rate(files, size, bare)}",
            pipeline=f"{threads} probe {probes if threads == 1 else _PLURAL[probes]}: {_rate(files, size, pipeline)}",
            ratio=f"{bare / pipeline:.2f}x",
            cpu_ratio=f"{bare_cpu / pipeline_cpu:.2f}x",
            goal=f">= {case.goal}x" if judged else "(reported)",
            passed=bare / pipeline >= case.goal if judged else None,
        )

    rows = [row(result["bare_threads"], threads, judged=case.goal is not None)]
    if threads > 1:
        rows.append(row(result["bare"], 1, judged=False))
    return rows


def _run_measured(command: list[str], env: dict[str, str], log_path: Path) -> tuple[float, float, float]:
    """Run a command to its end; (wall-clock seconds, CPU seconds, peak RSS in MB) of that process and the
    processes it starts (the scan's probe workers): its own rusage, plus what `proctree` reads of the others."""
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        watch = proctree.DescendantsWatch(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        others_mb, others_cpu = watch.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed with status {proc.returncode}; see {log_path}")
    # Linux reports kilobytes
    return seconds, usage.ru_utime + usage.ru_stime + others_cpu, usage.ru_maxrss / 1024 + others_mb


def _memory(data_dir: Path, url: str, results_dir: Path, scale: float) -> list[Row]:
    dataset = datasets.scaled(datasets.TINY, scale)
    root = str(dataset.root(data_dir))
    env = _django_env(url)
    _database_reset("postgresql", url)
    bare_command = [sys.executable, "-m", "benchmarks.bare", root]
    _run_measured(bare_command, env, results_dir / "tiny-bare.log")  # warms the page cache
    bare_seconds, bare_cpu, bare_rss = _run_measured(bare_command, env, results_dir / "tiny-bare.log")
    _log(f"  {dataset.name}: bare {bare_seconds:.1f} s, peak RSS {bare_rss:.0f} MB")
    scan_command = [sys.executable, "manage.py", "scan", root, "--stages", "exif", "--name", "benchmark tiny files"]
    scan_seconds, scan_cpu, scan_rss = _run_measured(scan_command, env, results_dir / "tiny-scan.log")
    _log(f"  {dataset.name}: manage.py scan {scan_seconds:.1f} s, peak RSS {scan_rss:.0f} MB")
    files = dataset.files
    label = f"2 {files:,} tiny files (manage.py scan)"
    return [
        Row(label, "postgresql", f"peak RSS {bare_rss:.0f} MB", f"peak RSS {scan_rss:.0f} MB", "", "",
            f"< {RSS_GOAL_MB} MB", scan_rss < RSS_GOAL_MB),
        Row(label, "postgresql", f"{files / bare_seconds:,.0f} files/s", f"{files / scan_seconds:,.0f} files/s",
            f"{bare_seconds / scan_seconds:.3f}x", f"{bare_cpu / scan_cpu:.3f}x", "(reported)", None),
    ]  # fmt: skip


def _table(rows: list[Row]) -> str:
    lines = [
        "| case | database | bare loop | pipeline | ratio | CPU ratio | goal | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "-" if r.passed is None else ("pass" if r.passed else "FAIL")
        lines.append(
            f"| {r.case} | {r.database} | {r.bare} | {r.pipeline} | {r.ratio} | {r.cpu_ratio} | {r.goal} | {verdict} |"
        )
    return "\n".join(lines)


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True)
    if head.returncode:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def _threads_note(rows: list[Row]) -> str:
    if not any(r.goal == "(reported)" and r.bare.startswith("1 thread") for r in rows):
        return "Discovery probed files on one thread, like the bare loop."
    return (
        "Discovery probes files in SCAN_PROBE_PROCESSES worker processes (or on SCAN_PROBE_THREADS threads). The row "
        "with a goal compares it with the bare loop on as many threads, so both sides have the same parallelism: "
        "that row decides. The row marked (reported) "
        "compares the same pipeline runs with a single-threaded bare loop, for information only: its wall-clock "
        "ratio credits the pipeline with the cores the bare loop left idle, and swings with the load of a shared "
        "machine."
    )


def _report(rows: list[Row], cases: list[str], runs: int, load: tuple[float, float], scale: float) -> str:
    notes = [
        "# Scanner core benchmark",
        "",
        *(
            [
                f"**Scaled run (--scale {scale}): a smoke test on a fraction of the files, not comparable to a "
                "full run.**",
                "",
            ]
            if scale != 1
            else []
        ),
        _table(rows),
        "",
        f"Ratio: pipeline throughput / bare-loop throughput (wall clock), best of {runs} alternating runs of each "
        "after one untimed bare pass that warms the page cache; the bare column says on how many threads. CPU "
        "ratio: the same with the CPU seconds of the measuring process and its probe processes, which other load on "
        "a shared machine does not inflate (it leaves out the PostgreSQL server's own work). Bare loop: os.walk + "
        "one read per MiB feeding MD5, SHA-1 and SHA-256. Pipeline: "
        "job_create + job_start with stages=[exif] in the embedded configuration (the Celery canvas run eagerly, in "
        "one process), the database emptied before every job.",
        "",
        _threads_note(rows),
        "",
        f"Code: {_revision()}. Load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end, "
        f"on {os.cpu_count()} cores.",
        "",
        "Data sets:",
    ]
    for name in cases:
        if name in THROUGHPUT_CASES:
            case = THROUGHPUT_CASES[name]
            notes.append(f"- {case.label.split(' ', 1)[0]}: {datasets.scaled(case.dataset, scale).summary}")
    if "tiny" in cases:
        notes.append(
            f"- 2: {datasets.scaled(datasets.TINY, scale).summary}; `manage.py scan --stages exif` on PostgreSQL as a "
            "subprocess, peak RSS and CPU from its own rusage plus its probe processes' (the sum of their own peaks, "
            "an upper bound); the bare column is `python -m benchmarks.bare` (one "
            "thread) as a subprocess."
        )
    return "\n".join(notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    everything = [*THROUGHPUT_CASES, "tiny"]
    parser.add_argument("--cases", default=",".join(everything), help=f"comma-separated, from {', '.join(everything)}")
    parser.add_argument("--databases", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (best is kept)")
    parser.add_argument("--profile", action="store_true", help="also profile one job per case (cProfile)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of each data set's files, for a quick smoke run (e.g. 0.02)"
    )
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(everything)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    wanted_databases = [d for d in args.databases.split(",") if d]

    data_dir = Path(os.environ.get("BENCH_DATA_DIR", "/work/bench-data"))
    results_path = Path(os.environ.get("BENCH_RESULTS", REPO / "bench-results" / "scan.md"))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    urls = {
        "postgresql": os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench"),
        "sqlite": f"sqlite:///{data_dir / 'scanner_bench.sqlite3'}",
    }

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    for name in cases:
        dataset = THROUGHPUT_CASES[name].dataset if name in THROUGHPUT_CASES else datasets.TINY
        datasets.ensure(datasets.scaled(dataset, args.scale), data_dir, log=_log)
    _log(f"data ready in {data_dir} ({time.monotonic() - started:.0f} s)")

    rows: list[Row] = []
    profile = results_path.parent if args.profile else None
    for name in cases:
        if name == "tiny":
            _log("case 2: manage.py scan on the tiny files")
            rows += _memory(data_dir, urls["postgresql"], results_path.parent, args.scale)
            continue
        case = THROUGHPUT_CASES[name]
        for database in (d for d in case.databases if d in wanted_databases):
            _log(f"case {case.label} on {database}")
            rows += _throughput(case, database, urls[database], data_dir, args.runs, profile, args.scale)

    report = _report(rows, cases, args.runs, (load_start, os.getloadavg()[0]), args.scale)
    results_path.write_text(report)
    print()
    print(report)
    _log(f"written to {results_path} (total {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
