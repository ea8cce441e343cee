"""Audit write cost with the hash chain against without, under concurrent writers, in one run.

WRITERS processes (default 8) each record EVENTS audit events (default 2,000) through audit.services.audit_record,
each in a transaction of its own, as a request records one, all starting together. "with the chain": events are
sealed after commits as configured (AUDIT_CHAIN_SEAL_ON_COMMIT on, AUDIT_CHAIN_SEAL_INTERVAL as set, default 1 s per
process), then what the writers left unsealed is sealed (`audit seal`, counted in the round's time) and the chain
verified afterwards. "without": the same inserts with AUDIT_CHAIN_SEAL_ON_COMMIT off, so nothing is sealed. The time
of a round: from the first writer's start to the last one's end, plus that last sealing. The two alternate, the log
emptied before each round; best of REPEATS (default 3). Goal: with the chain < 10 % slower. Also the CPU seconds the
writers and their PostgreSQL backends used (from /proc, where the database runs on this machine), which other load on
a shared machine sways less than the wall clock.

Run: `python -m benchmarks.audit` (part of `make bench`). Uses its own database (BENCH_AUDIT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_audit), recreated on every run, and Redis database
BENCH_AUDIT_REDIS_URL (default redis://127.0.0.1:6379/3; the writers do not use it); writes bench-results/audit.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

from benchmarks import jobrows
from benchmarks.environment import distributed_environment, results_write

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_AUDIT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_audit")
REDIS_URL = os.environ.get("BENCH_AUDIT_REDIS_URL", "redis://127.0.0.1:6379/3")
RESULTS = REPO / "bench-results" / "audit.md"
MODES = {"without": "false", "with the chain": "true"}  # AUDIT_CHAIN_SEAL_ON_COMMIT

distributed_environment(database_url=DATABASE_URL, broker_url=REDIS_URL, REDIS_URL=REDIS_URL, log_level="ERROR")


def _backend_cpu(connection) -> float | None:
    """CPU seconds the connection's PostgreSQL backend has used so far, where it runs on this machine (else None)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _cpu(connection) -> tuple[float, float | None]:
    return time.process_time(), _backend_cpu(connection)


def _cpu_since(connection, before: tuple[float, float | None]) -> float | None:
    """CPU seconds this process and its backend used since `before` (None where the backend's is not known)."""
    app, backend = _cpu(connection)
    return None if backend is None else app - before[0] + backend - before[1]


def _writer(index: int, events: int, seal: str, start, results) -> None:
    """One writer process: `events` events, one transaction each, as an examiner reading files in the web app."""
    os.environ["AUDIT_CHAIN_SEAL_ON_COMMIT"] = seal
    import django

    django.setup()
    from django.db import connection, transaction

    from audit.services import Actor, acting_as, audit_record

    connection.ensure_connection()
    actor = Actor("web", user_id=index + 1, username=f"examiner{index}@example.org", client="192.0.2.10")
    start.wait()
    started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
    cpu = _cpu(connection)
    with acting_as(actor):
        for n in range(events):
            with transaction.atomic():
                audit_record(
                    "file.view", job_id=1 + n % 50, target=f"/evidence/DCIM/IMG_{n:05}.JPG", sha256=f"{n:064x}", size=n
                )
    results.put((started, time.monotonic(), _cpu_since(connection, cpu)))
    connection.close()


def _round(*, writers: int, events: int, seal: str) -> tuple[float, float | None]:
    """Seconds from the first writer's start to the last one's end, and the CPU seconds the writers and their
    database backends used (None where the backends' are not known)."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(writers), context.Queue()
    processes = [context.Process(target=_writer, args=(i, events, seal, start, results)) for i in range(writers)]
    for process in processes:
        process.start()
    spans = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0, process.exitcode
    cpu = None if any(c is None for *_, c in spans) else sum(c for *_, c in spans)
    return max(end for _, end, _ in spans) - min(started for started, *_ in spans), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events", type=int, default=2000, help="events per writer")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from audit.chain import audit_chain_seal
    from audit.models import AuditEvent, AuditSeal
    from audit.selectors import audit_chain_verify

    call_command("migrate", verbosity=0)
    total = args.writers * args.events
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for repeat in range(args.repeats):
        # Alternate which goes first, so neither always meets the other's leftovers (autovacuum, a warm cache).
        for mode in list(MODES)[:: 1 if repeat % 2 == 0 else -1]:
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {AuditEvent._meta.db_table}, {AuditSeal._meta.db_table} RESTART IDENTITY")
            seconds, cpu = _round(writers=args.writers, events=args.events, seal=MODES[mode])
            if MODES[mode] == "true":
                started, before = time.monotonic(), _cpu(connection)
                left = audit_chain_seal(wait=True)
                seconds += time.monotonic() - started
                sealing = _cpu_since(connection, before)
                cpu = None if cpu is None or sealing is None else cpu + sealing
                print(f"  left unsealed by the writers: {left}", flush=True)
            cpu_text = "" if cpu is None else f", CPU (writers and their backends) {cpu:.2f} s"
            print(f"round {repeat + 1}, {mode}: {seconds:.2f} s{cpu_text}", flush=True)
            best[mode] = min(best.get(mode, seconds), seconds)
            if cpu is not None:
                best_cpu[mode] = min(best_cpu.get(mode, cpu), cpu)
            if MODES[mode] == "true":
                check = audit_chain_verify()
                assert (check.events, check.unsealed, check.broken) == (total, 0, None), check
            else:
                assert (AuditEvent.objects.count(), AuditSeal.objects.count()) == (total, 0)

    without, chained = best["without"], best["with the chain"]
    ratio = chained / without
    lines = [
        "# Audit log benchmark",
        "",
        f"{args.writers} writer processes, each {args.events:,} events through audit_record in a transaction of its "
        f'own ({total:,} in all), PostgreSQL on this machine; best of {args.repeats}, alternating. "without": '
        'AUDIT_CHAIN_SEAL_ON_COMMIT off (same inserts, nothing sealed); "with the chain": sealing after commits, each '
        f"process at most every {settings.AUDIT_CHAIN_SEAL_INTERVAL:g} s (AUDIT_CHAIN_SEAL_INTERVAL), what is left "
        "sealed at the end within the round's time, the chain verified.",
        "",
        "| audit writes | best s | events/s | µs per event per writer |",
        "|---|---|---|---|",
        *[
            f"| {mode} | {seconds:.2f} | {total / seconds:,.0f} | {seconds / args.events * 1e6:.0f} |"
            for mode, seconds in (("without", without), ("with the chain", chained))
        ],
        "",
        f"Ratio with/without: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %). Goal: < 10 % slower: "
        f"{'met' if ratio < 1.10 else 'NOT met'}.",
        "",
    ]
    if len(best_cpu) == 2:
        # CPU time is less at the mercy of other load on the machine than the wall clock.
        cpu_ratio = best_cpu["with the chain"] / best_cpu["without"]
        lines += [
            f"CPU seconds of the writers and their PostgreSQL backends (best): without {best_cpu['without']:.2f}, "
            f"with the chain {best_cpu['with the chain']:.2f}; ratio {cpu_ratio:.3f} ({(cpu_ratio - 1) * 100:+.1f} %).",
            "",
        ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
