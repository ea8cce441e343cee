"""The cost of live progress events on the distributed EXIF stage, measured in one run with publishing on and off.

The 2,000 images of the pipeline benchmark go through the real stage (chords on Redis, one `celery worker` with two
pool processes on `exif`, one on `jobs`), in batches of 16 so that events are frequent. Each round starts fresh
workers with PROGRESS_EVENTS on or off; rounds alternate, and each mode's best round counts. While events are on, a
listener subscribed to the job's channel-layer group (what a browser's socket does) drains them.

Run: `python -m benchmarks.progress` (part of `make bench`). Own database (BENCH_PROGRESS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_progress); writes bench-results/progress.md.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

os.environ["BENCH_PIPELINE_DATABASE_URL"] = os.environ.get(
    "BENCH_PROGRESS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_progress"
)

from benchmarks import pipeline

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench-results" / "progress.md"
BATCH_SIZE = 16
ROUNDS = 5  # per mode, interleaved
GOAL = 0.05


class Listener:
    """A browser's share of the work: a channel in the job's group, drained on a thread of its own."""

    def __init__(self, group: str) -> None:
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.group = group
        self.received = 0
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._drain()), daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _drain(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, channel)
        self.ready.set()
        while not self.stop.is_set():
            try:
                await asyncio.wait_for(self.layer.receive(channel), timeout=0.5)
            except TimeoutError:
                continue
            self.received += 1
        await self.layer.group_discard(self.group, channel)

    def close(self) -> int:
        self.stop.set()
        self.thread.join(10)
        return self.received


def run_round(events: bool, discovered, ids: list[int], log_dir: Path) -> tuple[float, int]:
    from jobs import canvas
    from jobs.progress.publisher import job_group

    os.environ["PROGRESS_EVENTS"] = "true" if events else "false"
    workers = pipeline.start_workers(log_dir)
    try:
        pipeline.clear_results()
        job, batches = pipeline.extraction_job(discovered, ids, BATCH_SIZE, name=f"events {events}")
        listener = Listener(job_group(job.pk)) if events else None
        started = time.perf_counter()
        for batch in batches:
            canvas.batch_canvas(batch_id=batch.pk, stages=["exif"]).apply_async()
        pipeline.wait_completed(job)
        elapsed = time.perf_counter() - started
        received = listener.close() if listener else 0
    finally:
        pipeline.stop_workers(workers)
    return pipeline.IMAGES / elapsed, received


def main() -> None:
    discovered, ids = pipeline.prepare()
    log_dir = REPO / "bench-results" / "progress-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rates: dict[bool, list[float]] = {True: [], False: []}
    received: list[int] = []
    for _ in range(ROUNDS):
        for events in (True, False):
            rate, count = run_round(events, discovered, ids, log_dir)
            rates[events].append(rate)
            if events:
                received.append(count)
    on, off = max(rates[True]), max(rates[False])
    cost = (off - on) / off
    lines = [
        f"Live progress events on the distributed EXIF stage: {pipeline.IMAGES} JPEGs in batches of {BATCH_SIZE}, "
        f"one worker with 2 pool processes on `exif`, one on `jobs`; best of {ROUNDS} interleaved rounds per mode.",
        "",
        "| progress events | images/s (best) | every round | events received by a listener |",
        "|---|---:|---|---:|",
        f"| on | {on:.0f} | {', '.join(f'{r:.0f}' for r in rates[True])} | {', '.join(map(str, received))} |",
        f"| off | {off:.0f} | {', '.join(f'{r:.0f}' for r in rates[False])} | - |",
        "",
        f"Cost of publishing: {100 * cost:.1f} % of the stage's throughput (goal < {100 * GOAL:.0f} %): "
        f"{'PASS' if cost < GOAL else 'FAIL'}.",
    ]
    pipeline.write_report(RESULTS, lines)


if __name__ == "__main__":
    main()
