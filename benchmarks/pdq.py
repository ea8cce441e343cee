"""The pdq stage and near-duplicate search: `python -m benchmarks.pdq [--images N] [--hashes 1000000]
[--group 100000]`.

- Stage: images per second through the path a worker's pdq task runs (`jobs.pipeline.stages.stage_batch_run` on a
  committed scan batch, as benchmarks.ml measures the ML stages: claims, paths from the database, decoding on the
  stage's threads, results upserted with provenance, progress counted) against a bare loop of pdqhash on the same
  decodes (the stage's own decode call: Pillow's draft mode at 512 pixels, upright, RGB) on one thread with no
  database. Goal: >= 0.8x.
- Similar: one image's near-duplicate query (its 8 dihedral hashes, distance 31) against an index of `--hashes`
  random hashes (jobs.similar's index: extractors.pdqindex), median and 95th percentile of 200 queries, and the time
  to build the index. Goal: < 50 ms at a million.
- Grouping: a job of `--group` images (random hashes with their 8 transforms) into near-duplicate groups (every
  image's 8 hashes queried against the index, then union-find), as jobs.similar.job_groups does.

The database is its own, dropped and made again on each run (BENCH_ML_DATABASE_URL, as benchmarks.ml). Results go
to stdout and bench-results/pdq.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.faces import make_photos
from benchmarks.ml import (
    ROOT,
    bench_database_url,
    committed_batch,
    discovered_in_django,
    drop_database,
    report_save,
    reset_database,
    run_stage,
    timed,
)
from extractors.base import ImageRef
from extractors.decoding import decode_oriented
from extractors.pdq import DECODE_LONG_SIDE, DIHEDRAL, HASH_BYTES

OUTPUT = ROOT / "bench-results" / "pdq.md"
DISTANCE = 31
MAX_PIXELS = 89_478_485


def bare_pdq(paths: Sequence[Path]) -> int:
    """pdqhash on each image, decoded as the stage decodes it (the same call: draft mode to 512 pixels on the longer
    side, upright, RGB), one after another on this thread."""
    import pdqhash

    for path in paths:
        pixels = decode_oriented(
            ImageRef(0, bytes(path), "image/jpeg"), max_pixels=MAX_PIXELS, long_side=DECODE_LONG_SIDE
        )
        pdqhash.compute_dihedral(np.asarray(pixels.pixels))
    return len(paths)


def stage_rates(images: int, repeat: int) -> tuple[float, float]:
    """Images per second through the stage and through the bare loop (best of `repeat` interleaved runs)."""
    with tempfile.TemporaryDirectory(prefix="bench-pdq-") as work:
        source = Path(work) / "source"
        source.mkdir()
        paths = make_photos(source, images)
        database = bench_database_url()
        reset_database(database)
        discovered, ids, paths = discovered_in_django(database, source, len(paths))
        from django.db import connections

        warm = ids[:4]
        run_stage("pdq", committed_batch("pdq", discovered, warm), len(warm))
        stage_s = bare_s = float("inf")
        for _ in range(repeat):
            batch = committed_batch("pdq", discovered, ids)
            stage_s = min(stage_s, timed(lambda b=batch: run_stage("pdq", b, len(ids)))[0])
            bare_s = min(bare_s, timed(lambda: bare_pdq(paths))[0])
        connections.close_all()
    drop_database(database)
    return len(ids) / stage_s, len(ids) / bare_s


def random_dihedral(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count * DIHEDRAL, HASH_BYTES), dtype=np.uint8)


def similar_times(hashes: int, queries: int = 200) -> tuple[float, float, float, int]:
    """Index build seconds, median and 95th percentile query milliseconds, and how many matches the queries found
    (each query is a stored image's transforms with 12 bits changed: one match each)."""
    from extractors.pdqindex import NearIndex, nearest_by_image

    stored = random_dihedral(hashes, 1)[::DIHEDRAL].copy()
    build_s, index = timed(lambda: NearIndex(stored))
    rng = np.random.default_rng(2)
    times, found = [], 0
    for row in rng.choice(hashes, queries, replace=False):
        transforms = random_dihedral(1, int(row))
        transforms[3] = stored[row]
        transforms[3, :3] ^= 0x0F  # 12 bits changed: a near-duplicate turned by 270°
        start = time.perf_counter()
        found += len(nearest_by_image(index, transforms.tobytes(), DISTANCE))
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return build_s, statistics.median(times), times[int(len(times) * 0.95) - 1], found


def grouping_time(images: int) -> tuple[float, int]:
    from extractors.pdqindex import near_pairs, union_groups

    dihedral = random_dihedral(images, 3)
    for i in range(0, min(images, 1000) - 1, 2):  # 500 pairs of near-duplicates
        dihedral[(i + 1) * DIHEDRAL : (i + 2) * DIHEDRAL] = dihedral[i * DIHEDRAL : (i + 1) * DIHEDRAL]
        dihedral[(i + 1) * DIHEDRAL, :2] ^= 0xFF

    def group() -> int:
        a, b, _ = near_pairs(dihedral, DISTANCE)
        labels = union_groups(images, a, b)
        return images - len(set(labels.tolist()))

    seconds, joined = timed(group)
    return seconds, joined


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the stage and bare loop; the fastest counts")
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--group", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    stage, bare = stage_rates(args.images, args.repeat)
    print(f"  stage {stage:.1f} img/s, bare {bare:.1f} img/s", flush=True)
    build_s, median_ms, p95_ms, found = similar_times(args.hashes)
    print(f"  similar: build {build_s:.1f} s, query median {median_ms:.1f} ms, p95 {p95_ms:.1f} ms", flush=True)
    group_s, joined = grouping_time(args.group)
    print(f"  grouping {args.group} images: {group_s:.1f} s", flush=True)

    lines = [
        "# PDQ stage and near-duplicate search",
        "",
        f"- host: {platform.node()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| measure | value | goal |",
        "|---|---:|---|",
        f"| stage, {args.images} JPEG photographs (best of {args.repeat}) | {stage:.1f} img/s | |",
        f"| bare pdqhash loop, same decodes | {bare:.1f} img/s | |",
        f"| stage / bare | {stage / bare:.2f}x | >= 0.8x |",
        f"| similar: index of {args.hashes:,} hashes, build | {build_s:.1f} s | once per scope and change |",
        f"| similar: one image's 8 hashes, median of 200 | {median_ms:.1f} ms | < 50 ms |",
        f"| similar: 95th percentile | {p95_ms:.1f} ms | |",
        f"| similar: near-duplicates found (200 planted) | {found} | 200 |",
        f"| grouping {args.group:,} images (8 hashes each) | {group_s:.1f} s | |",
        f"| images joined to a group (500 planted pairs) | {joined} | 500 |",
    ]
    report_save(lines, args.output)


if __name__ == "__main__":
    main()
