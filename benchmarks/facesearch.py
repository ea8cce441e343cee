"""Face search at a million stored faces: `python -m benchmarks.facesearch [--faces N] [--queries Q]`.

Builds the index jobs.faceindex keeps per recogniser (at this size: an inverted-file index) over N synthetic 128-d
L2-normalised embeddings (SFace's length) made as faces of persons (each person a direction, each face that direction
with noise), and measures: the time to build it, the median and 95th-percentile time of one query (goal: < 100 ms),
its recall of the exact ten nearest faces (an exact search over the same vectors, also timed), and the memory the
index holds (the growth of this process's resident memory, and the size of its file). No database: the index is
searched as jobs.search searches it, before the scope's filter. Results go to stdout and bench-results/facesearch.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "bench-results" / "facesearch.md"
DIM = 128
FACES_PER_PERSON = 10


def _rss() -> int:
    """This process's resident memory now, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _faces(n: int, seed: int = 7):
    import numpy as np

    rng = np.random.default_rng(seed)
    persons = rng.standard_normal((max(1, n // FACES_PER_PERSON), DIM), dtype="float32")
    vectors = persons[rng.integers(0, len(persons), n)] + 0.6 * rng.standard_normal((n, DIM), dtype="float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype="float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scanner.settings.base")
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
    import django

    django.setup()
    import faiss
    import numpy as np

    from jobs.faceindex import EXACT_BELOW, NPROBE, FaceIndex, build_index

    vectors = _faces(args.faces)
    ids = np.arange(1, args.faces + 1, dtype="int64")
    before = _rss()
    started = time.perf_counter()
    index = FaceIndex("bench", build_index(vectors, ids), int(ids[-1]), args.faces)
    built = time.perf_counter() - started
    held = _rss() - before
    stored = len(faiss.serialize_index(index.index))
    rng = np.random.default_rng(11)
    queries = vectors[rng.integers(0, args.faces, args.queries)] + 0.05 * rng.standard_normal(
        (args.queries, DIM), dtype="float32"
    )
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    timings, exact_timings, recalled = [], [], []
    for query in queries:
        started = time.perf_counter()
        found = index.search(query, 10)
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        _scores, nearest = exact.search(query.reshape(1, -1), 10)
        exact_timings.append(time.perf_counter() - started)
        recalled.append(len({pk for pk, _s in found} & {int(i) + 1 for i in nearest[0]}) / 10)
    kind = "exact (flat inner product)" if args.faces < EXACT_BELOW else f"IVFFlat, nprobe {NPROBE}"
    median, p95 = statistics.median(timings), sorted(timings)[int(0.95 * len(timings)) - 1]
    lines = [
        f"# Face search: {args.faces:,} synthetic {DIM}-d faces ({kind}), {faiss.omp_get_max_threads()} threads",
        "",
        "| measure | value |",
        "|---|---|",
        f"| index build | {built:.1f} s |",
        f"| query, median | {median * 1000:.2f} ms |",
        f"| query, 95th percentile | {p95 * 1000:.2f} ms |",
        f"| exact search over the same vectors, median | {statistics.median(exact_timings) * 1000:.2f} ms |",
        f"| recall of the exact ten nearest | {statistics.mean(recalled):.3f} |",
        f"| index memory (resident growth) | {held / 2**20:.0f} MB ({held / args.faces:.0f} bytes per face) |",
        f"| index file | {stored / 2**20:.0f} MB |",
        f"| memory per million faces | {held / args.faces:.0f} MB |",
        "",
        f"Goal: query < 100 ms at 1,000,000 faces: {'met' if median < 0.1 else 'NOT met'}.",
    ]
    from benchmarks.environment import results_write

    results_write(OUTPUT, lines)


if __name__ == "__main__":
    main()
