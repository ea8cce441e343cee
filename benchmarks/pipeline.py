"""The distributed EXIF stage against the bare in-process loop of the same extractor, in one run.

2,000 images (by default) are discovered once; then, for each batch size (1, 16, 64, 256), the same images go
through the real distributed stage: chords on Redis, one `celery worker` with two pool processes on the `exif` queue
and one on `jobs` for the chord bodies, results upserted into PostgreSQL, progress counted. The bare loop is
`ExifExtractor.run` over the same files in this process. Also measured: raw ingestion of stage results
(`stage_results_save`) in results/s per batch size.

Run: `python -m benchmarks.pipeline` (part of `make bench`). Uses its own database (BENCH_PIPELINE_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/scanner_bench_pipeline) and broker, which it empties
(BENCH_PIPELINE_BROKER_URL, default Redis DB 2); writes bench-results/pipeline.md. BENCH_PIPELINE_IMAGES (default
2,000) makes a quick smoke run smaller; the goals are meant for the full size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.environment import distributed_environment

REPO = Path(__file__).resolve().parent.parent
IMAGES = int(os.environ.get("BENCH_PIPELINE_IMAGES", "2000"))
DATA = Path(os.environ.get("BENCH_DATA_DIR", "/work/bench-data")) / f"pipeline-{IMAGES}"
DATABASE_URL = os.environ.get(
    "BENCH_PIPELINE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_pipeline"
)
BROKER_URL = os.environ.get("BENCH_PIPELINE_BROKER_URL", "redis://127.0.0.1:6379/2")
BATCH_SIZES = (1, 16, 64, 256)
RESULTS = REPO / "bench-results" / "pipeline.md"

distributed_environment(
    database_url=DATABASE_URL,
    broker_url=BROKER_URL,
    CELERY_RESULT_BACKEND=BROKER_URL,
    # Workers publish progress events to the channel layer, as they do in production.
    REDIS_URL=BROKER_URL,
    SCAN_STAGES="exif",
)


def _write(i: int) -> None:
    from jobs.samples import Gps, exif_bytes, write_photo

    exif = exif_bytes(
        make="Bench", model=f"M{i % 5}", taken="2024:03:04 05:06:07", offset="+01:00", gps=Gps(48.85 + i / 1e4, 2.35)
    )
    write_photo(DATA / f"d{i // 100:02d}" / f"img_{i:05d}.jpg", width=640, height=480, seed=i, exif=exif)


def make_data() -> None:
    if DATA.exists() and sum(1 for _ in DATA.rglob("*.jpg")) == IMAGES:
        return
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_write, range(IMAGES), chunksize=50))


def reset_database() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    assert "bench" in name, "the benchmark drops its database: its name must contain 'bench'"
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, check=True)
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()


def start_workers(log_dir: Path) -> list[subprocess.Popen]:
    processes = []
    for name, queue, concurrency in (("exif", "exif", 2), ("jobs", "jobs", 1)):
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "scanner",
                    "worker",
                    "-Q",
                    queue,
                    "-c",
                    str(concurrency),
                    "-n",
                    f"bench-{name}@localhost",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "info",
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all(b" ready." in (log_dir / f"{n}.log").read_bytes() for n in ("exif", "jobs")):
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start; see " + str(log_dir))
        time.sleep(0.2)
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def prepare():
    """Sample images, a fresh database, and discovery once with no stage: returns that job and its image ids."""
    make_data()
    reset_database()
    import django

    django.setup()
    from jobs.models import Job, JobImage
    from jobs.pipeline.scanning import scan_job
    from jobs.services import job_create

    discovered = job_create(name="discovery", source_path=DATA, stages=[])
    Job.objects.filter(pk=discovered.pk).update(status=Job.Status.QUEUED)
    scan_job(job_id=discovered.pk, slice_seconds=3600)
    ids = list(JobImage.objects.filter(job=discovered).order_by("image_id").values_list("image_id", flat=True))
    assert len(ids) == IMAGES, len(ids)
    return discovered, ids


def clear_results() -> None:
    """Forget every stage result, so that the next job analyses the images again."""
    from content.models import ExifData, StageResult
    from jobs.models import StageClaim

    StageClaim.objects.all().delete()
    ExifData.objects.all().delete()
    StageResult.objects.all().delete()


def extraction_job(discovered, ids: list[int], size: int, *, name: str):
    """A job over the discovered files, past discovery, with its images cut into exif batches of `size`, ready to
    dispatch. Returns the job and its batches."""
    from jobs.models import BatchStage, FileInstance, Job, JobImage, ScanBatch, StageProgress
    from jobs.services import job_create

    job = job_create(name=name, source_path=DATA, stages=["exif"])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.EXTRACTING, discovery_finished=True, files_seen=IMAGES)
    FileInstance.objects.bulk_create(
        [
            FileInstance(job=job, path=f.path, path_digest=f.path_digest, kind=f.kind, size=f.size,
                         status=f.status, image_id=f.image_id, mime=f.mime, sha256=f.sha256)
            for f in FileInstance.objects.filter(job=discovered)
        ]
    )  # fmt: skip
    JobImage.objects.bulk_create([JobImage(job=job, image_id=i) for i in ids])
    StageProgress.objects.filter(job=job).update(total=IMAGES)
    batches = [
        ScanBatch.objects.create(job=job, seq=seq, work={"exif": ids[i : i + size]})
        for seq, i in enumerate(range(0, IMAGES, size))
    ]
    BatchStage.objects.bulk_create([BatchStage(batch=b, stage="exif") for b in batches])
    return job, batches


def wait_completed(job, timeout: float = 900) -> None:
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk=job.pk).values_list("status", flat=True).get() != Job.Status.COMPLETED:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{job.name}: the job did not complete")
        time.sleep(0.05)


def write_report(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def main() -> None:
    discovered, ids = prepare()
    from django.db.models import Sum

    from content.models import StageResult
    from content.services import stage_results_save
    from extractors.base import Outcome
    from extractors.exif import ExifExtractor
    from jobs import canvas
    from jobs.config import extractor_context
    from jobs.models import StageProgress
    from jobs.pipeline.stages import _image_refs

    refs = _image_refs(discovered, ids)
    extractor = ExifExtractor(extractor_context("exif"))
    provenance = extractor.load()
    extractor.run(refs)  # warm the page cache
    started = time.perf_counter()
    bare_results = extractor.run(refs)
    bare = time.perf_counter() - started
    assert all(r.outcome is Outcome.DONE for r in bare_results)

    ingestion = {}
    for size in BATCH_SIZES:
        clear_results()
        started = time.perf_counter()
        for i in range(0, IMAGES, size):
            stage_results_save(provenance=provenance, results=bare_results[i : i + size])
        ingestion[size] = IMAGES / (time.perf_counter() - started)

    log_dir = REPO / "bench-results" / "pipeline-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    workers = start_workers(log_dir)
    rows = []
    try:
        for size in BATCH_SIZES:
            clear_results()
            job, batches = extraction_job(discovered, ids, size, name=f"batch {size}")
            started = time.perf_counter()
            for batch in batches:
                canvas.batch_canvas(batch_id=batch.pk, stages=["exif"]).apply_async()
            wait_completed(job)
            elapsed = time.perf_counter() - started
            done = StageProgress.objects.filter(job=job).aggregate(n=Sum("done"))["n"]
            assert done == IMAGES == StageResult.objects.filter(stage="exif").count(), done
            overhead_ms = max(0.0, (elapsed * 2 - bare) / len(batches) * 1000)
            rows.append((size, len(batches), IMAGES / elapsed, (bare / elapsed), overhead_ms))
    finally:
        stop_workers(workers)

    best = max(rows, key=lambda r: r[2])
    best_ingestion = max(ingestion, key=ingestion.get)
    lines = [
        f"Distributed EXIF stage, {IMAGES} JPEGs (640x480, EXIF + GPS): one worker with 2 pool processes on `exif`,",
        f"one on `jobs`; bare loop = ExifExtractor.run in one process: {IMAGES / bare:.0f} images/s.",
        "",
        "| batch size | batches | pipeline images/s | vs bare loop | overhead/batch (ms) | ingestion results/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {size} | {n} | {rate:.0f} | {ratio:.2f}x | {overhead:.1f} | {ingestion[size]:.0f} |"
        for size, n, rate, ratio, overhead in rows
    ]
    lines += [
        "",
        f"Best: batch size {best[0]}, {best[3]:.2f}x of the bare loop (goal >= 0.6x): "
        f"{'PASS' if best[3] >= 0.6 else 'FAIL'}.",
        f"Stage results ingested end to end: {best[2]:.0f} results/s (goal >= 500/s): "
        f"{'PASS' if best[2] >= 500 else 'FAIL'}.",
        f"Raw ingestion (stage_results_save), best at batch size {best_ingestion}: "
        f"{ingestion[best_ingestion]:.0f} results/s (goal >= 500/s): "
        f"{'PASS' if ingestion[best_ingestion] >= 500 else 'FAIL'}.",
    ]
    write_report(RESULTS, lines)


if __name__ == "__main__":
    main()
