"""Throughput of the faces and classify stages: `python -m benchmarks.ml [--images N] [--batch-sizes 1,8,32]`.

Per stage and micro-batch size (FACES_BATCH_SIZE / CLASSIFY_BATCH_SIZE), images per second through the path a
worker's stage task runs: `jobs.pipeline.stages.stage_batch_run` on a committed scan batch of all the images, with the
models the registry loaded once (the load is timed apart). That is: prior results and claims, the evidence paths
read from the database, decoding (JPEG draft mode at the size the model needs) and preprocessing on worker threads
overlapping inference, alignment and face crops, then the results, faces and classifications upserted into
PostgreSQL with their provenance and the job's progress counted. Only the broker and the chord are left out (a few
milliseconds per batch: benchmarks.pipeline measures them).

Against it, two bare loops of the same loaded models on the same files, one micro-batch after another, with the
libraries' own calls (Pillow, insightface, open_clip) and no database:
- the stage's decodes: Pillow's draft mode asked for the size the stage asks for (the detector's 640 pixels on the
  longer side; the CLIP input's 224 on the shorter side) and, for faces too small there to align, the finer
  decode the stage makes for them;
- full decode: every pixel decoded, as plain library usage does.
Goal: stage >= 0.8x the bare loop with the same decodes.

Models have real sizes and random weights (nothing is downloaded): ViT-B-32 from open_clip's own config, and ONNX
graphs with the input/output signatures and roughly the compute of buffalo_l's det_10g (640x640) and w600k_r50
(IResNet-50), built by tests.support.synthetic_models. The GPU is used when there is one (torch.cuda, onnxruntime's CUDA
provider); the report says which device ran. Results go to stdout and bench-results/ml.md.

The database is its own, dropped and made again on each run: BENCH_ML_DATABASE_URL, by default DATABASE_URL's
server with `_bench_ml` appended to its name. Nothing is sent to a broker.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from PIL import Image, ImageDraw, ImageOps

from benchmarks.environment import distributed_environment
from extractors.faces import _ALIGN_SHARE

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = ROOT / "extractors" / "vocabulary.txt"
OUTPUT = ROOT / "bench-results" / "ml.md"
CLIP_CHECKPOINT = "open_clip/ViT-B-32/open_clip_model.safetensors"


@dataclass(frozen=True)
class Row:
    stage: str
    batch: int
    images: int
    faces: int
    load_s: float
    stage_rate: float  # images/s
    reduced_rate: float
    full_rate: float


def bench_database_url() -> str:
    explicit = os.environ.get("BENCH_ML_DATABASE_URL")
    if explicit:
        return explicit
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner"))
    return urlunsplit(base._replace(path=f"{base.path.rstrip('/')}_bench_ml"))


def _postgres(command: str, url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert "bench" in name, "the benchmark drops its database: its name must contain 'bench'"
    server = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
    extra = ["--if-exists"] if command == "dropdb" else []
    subprocess.run([command, *server, *extra, name], check=True, env=env)


def reset_database(url: str) -> None:
    """Drop and create the benchmark's database (its name must say `bench`), before Django connects."""
    _postgres("dropdb", url)
    _postgres("createdb", url)


def drop_database(url: str) -> None:
    _postgres("dropdb", url)


def make_images(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Camera-sized JPEGs; most hold one or two "faces" (white squares the synthetic detector finds)."""
    from jobs.samples import picture

    paths = []
    width, height = size
    for i in range(count):
        img = picture(width, height, seed=i)
        draw = ImageDraw.Draw(img)
        for j in range(i % 3):  # 0, 1 or 2 faces
            x, y = (width // 5) * (1 + 2 * j), height // 4 + (i * 37) % (height // 3)
            draw.rectangle((x, y, x + width // 10, y + width // 10), fill=(255, 255, 255))
        path = folder / f"img-{i:04d}.jpg"
        img.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def timed(run: Callable[[], object]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


# --- The bare loops: the same loaded models, the libraries' own calls, no database ----------------------------


def _open(
    path: Path, *, long_side: int | None = None, short_side: int | None = None
) -> tuple[Image.Image, float, tuple[int, int]]:
    """Pillow decode, upright, RGB; with the scale (full-resolution pixels per decoded pixel) and the full size. With
    a side, JPEG draft mode decodes at the largest DCT reduction that keeps that side at least that long."""
    with Image.open(path) as img:
        full = img.size
        if long_side or short_side:
            factor = min(1.0, long_side / max(full) if long_side else short_side / min(full))
            img.draft("RGB", (math.ceil(full[0] * factor), math.ceil(full[1] * factor)))
        pixels = ImageOps.exif_transpose(img).convert("RGB")
        return pixels, full[0] / img.size[0], full


def _bgr(img: Image.Image) -> Any:
    import numpy as np

    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def bare_faces(extractor: Any, paths: Sequence[Path], batch: int, reduced: bool) -> int:
    """Decode, detect, align and embed, one micro-batch of images after another, with the loaded models' own calls
    (insightface's SCRFD or the YuNet decoder, insightface's alignment, the recogniser).

    `reduced`: the stage's decodes. Detection on the draft decode for the detector's input; where a face is too
    small there for alignment (under three quarters of the recogniser's 112 pixels, the stage's rule), the image
    is decoded again at the coarsest draft size that keeps it large enough, and aligned on that."""
    import numpy as np
    from insightface.utils import face_align

    detector, recogniser = extractor._detector, extractor._recogniser
    align_side = recogniser.input_size[0] * _ALIGN_SHARE
    found = 0
    for start in range(0, len(paths), batch):
        crops = []
        for path in paths[start : start + batch]:
            img, scale, full = _open(path, long_side=extractor.det_size if reduced else None)
            boxes, points = detector.detect(img)
            bgr = _bgr(img)
            if len(boxes) and scale > 1:
                smallest = float(np.min(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
                if smallest < align_side:
                    finer = 1  # the coarsest power-of-two reduction that keeps the smallest face large enough
                    while finer * 2 <= smallest * scale / align_side:
                        finer *= 2
                    img, finer_scale, _ = _open(path, long_side=math.ceil(max(full) / finer))
                    bgr, points = _bgr(img), points * scale / finer_scale
            crops += [face_align.norm_crop(bgr, landmark=p, image_size=112) for p in points]
        if crops:
            recogniser.embed(crops)
        found += len(crops)
    return found


def bare_classify(extractor: Any, paths: Sequence[Path], batch: int, reduced: bool) -> int:
    """Decode, preprocess and encode, one micro-batch of images after another, with open_clip's calls."""
    import torch

    model, preprocess = extractor._model, extractor._preprocess
    sides = extractor._decode_sides if reduced else {}
    labels = extractor._label_embeddings
    for start in range(0, len(paths), batch):
        tensors = torch.stack([preprocess(_open(path, **sides)[0]) for path in paths[start : start + batch]])
        with torch.inference_mode():
            features = model.encode_image(tensors.to(extractor._device, extractor._dtype))
            features = torch.nn.functional.normalize(features.float(), dim=-1)
            (features @ labels.T * model.logit_scale.exp()).softmax(dim=-1).topk(5).indices.cpu()
    return 0


# --- The stage path ---------------------------------------------------------------------------------------------


def discover(source: Path) -> tuple[Any, list[int]]:
    """Discovery once, in this process and with no stage: the Image and FileInstance rows of the images."""
    from jobs.models import Job, JobImage
    from jobs.pipeline.scanning import scan_job
    from jobs.services import job_create

    job = job_create(name="discovery", source_path=source, stages=[])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    scan_job(job_id=job.pk, slice_seconds=3600)
    ids = list(JobImage.objects.filter(job=job).order_by("image_id").values_list("image_id", flat=True))
    return job, ids


def discovered_in_django(database: str, source: Path, count: int, **settings: str) -> tuple[Any, list[int], list[Path]]:
    """Set Django up on `database` (migrated) with the distributed settings plus `settings`, run discovery once over
    `source`, which holds `count` images, and return the job, its image ids and the images' paths in id order (the
    order a stage reads them, so the bare loops read them so too)."""
    distributed_environment(
        database_url=database,
        broker_url=os.environ.get("CELERY_BROKER_URL", "memory://"),
        log_level=os.environ.get("LOG_LEVEL", "WARNING"),
        **settings,
    )
    if not os.environ.get("REDIS_URL"):
        os.environ["PROGRESS_EVENTS"] = "false"  # no channel layer to publish progress to
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    discovered, ids = discover(source)
    assert len(ids) == count, f"discovery found {len(ids)} images of {count}"
    from jobs.models import FileInstance

    names = dict(FileInstance.objects.filter(job=discovered).values_list("image_id", "path"))
    return discovered, ids, [source / names[i] for i in ids]


def committed_batch(stage: str, discovered: Any, ids: Sequence[int]) -> Any:
    """A job on the same source whose discovery committed one scan batch of `ids` for `stage`, as a scan leaves it
    for the stage task. Earlier results of the stage are removed, so that the images are analysed again."""
    from django.utils import timezone

    from content.models import StageResult
    from jobs.models import BatchStage, FileInstance, Job, JobImage, ScanBatch, StageClaim, StageProgress
    from jobs.services import job_create

    StageResult.objects.filter(stage=stage).delete()  # with their faces and classifications
    StageClaim.objects.filter(stage=stage).delete()
    job = job_create(name=f"{stage} bench", source_path=discovered.source_path, stages=[stage])
    instances = FileInstance.objects.filter(job=discovered, image_id__in=ids)
    FileInstance.objects.bulk_create(
        [
            FileInstance(job=job, path=f.path, path_bytes=f.path_bytes, path_digest=f.path_digest, kind=f.kind,
                         size=f.size, status=f.status, image_id=f.image_id, mime=f.mime, sha256=f.sha256)
            for f in instances
        ]
    )  # fmt: skip
    JobImage.objects.bulk_create([JobImage(job=job, image_id=i) for i in ids])
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.EXTRACTING, discovery_finished=True, files_seen=len(ids), images=len(ids)
    )
    StageProgress.objects.filter(job=job, stage=stage).update(total=len(ids))
    batch = ScanBatch.objects.create(job=job, seq=0, work={stage: list(ids)}, dispatched_at=timezone.now())
    BatchStage.objects.create(batch=batch, stage=stage)
    return batch


def run_stage(stage: str, batch: Any, expected: int) -> None:
    from jobs.pipeline.stages import stage_batch_run

    counts = stage_batch_run(batch_id=batch.pk, stage=stage)
    assert counts.get("done") == expected, f"{stage}: {counts} (expected {expected} done)"


def measure(
    stage: str, discovered: Any, ids: Sequence[int], paths: Sequence[Path], batch_sizes: Sequence[int], repeat: int
) -> tuple[list[Row], dict]:
    from django.conf import settings

    from content.models import Face
    from extractors.registry import get_registry, reset_registry
    from jobs.config import extractor_context

    bare = bare_faces if stage == "faces" else bare_classify
    # As in a worker process: the models load once, before the first batch (the classify stage also embeds its
    # vocabulary then), and stay loaded.
    reset_registry()
    load_s, (extractor, loaded) = timed(lambda: get_registry().loaded(stage, extractor_context(stage)))
    provenance = loaded.params
    rows = []
    for batch in batch_sizes:
        # The micro-batch size is a host setting that the extractor reads when it is made; here the loaded one
        # takes each size in turn rather than loading the models again for every size.
        settings.STAGE_PARAMS[stage] = {**settings.STAGE_PARAMS[stage], "batch_size": batch}
        extractor.batch_size = batch
        assert get_registry().loaded(stage, extractor_context(stage))[0] is extractor
        warm = ids[: min(4, len(ids))]  # lazy sessions, allocator, kernel selection
        run_stage(stage, committed_batch(stage, discovered, warm), len(warm))
        bare(extractor, paths[: len(warm)], batch, True)
        # Interleaved and best of `repeat`: other processes on the host slow some runs, never speed one up.
        stage_s = reduced_s = full_s = float("inf")
        for _ in range(repeat):
            scan_batch = committed_batch(stage, discovered, ids)
            stage_s = min(stage_s, timed(lambda b=scan_batch: run_stage(stage, b, len(ids)))[0])
            reduced_s = min(reduced_s, timed(lambda e=extractor, b=batch: bare(e, paths, b, True))[0])
            full_s = min(full_s, timed(lambda e=extractor, b=batch: bare(e, paths, b, False))[0])
        faces = Face.objects.count() if stage == "faces" else 0
        n = len(ids)
        rows.append(Row(stage, batch, n, faces, load_s, n / stage_s, n / reduced_s, n / full_s))
        r = rows[-1]
        print(
            f"  {stage:<8} batch {batch:>2}: stage {r.stage_rate:6.2f} img/s, bare same decodes {r.reduced_rate:6.2f}, "
            f"bare full {r.full_rate:6.2f} (load {load_s:.1f} s)",
            flush=True,
        )
    return rows, provenance


def report_save(lines: Sequence[str], output: Path) -> None:
    """Print a benchmark's report (its Markdown lines) and write it to `output`."""
    report = "\n".join(lines) + "\n"
    print(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)


def device_report() -> list[str]:
    import onnxruntime
    import torch

    lines = [f"- host: {platform.node()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"]
    if torch.cuda.is_available():
        lines.append(f"- torch {torch.__version__}: CUDA, {torch.cuda.get_device_name(0)}")
    else:
        lines.append(f"- torch {torch.__version__}: CPU ({torch.get_num_threads()} threads)")
    providers = ", ".join(onnxruntime.get_available_providers())
    lines.append(f"- onnxruntime {onnxruntime.__version__}: providers {providers}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
    parser.add_argument("--stages", default="faces,classify")
    parser.add_argument("--size", default="2048x1536", help="pixels of the generated photos")
    parser.add_argument("--decode-threads", type=int, default=2, help="decode threads of each stage (a setting)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    stages = args.stages.split(",")
    width, height = (int(v) for v in args.size.split("x"))

    from tests.support.synthetic_models import write_faces_pack, write_open_clip

    with tempfile.TemporaryDirectory(prefix="bench-ml-") as work:
        work_dir = Path(work)
        models_root = work_dir / "models"
        print("building models (random weights, real sizes) and images...", flush=True)
        macs = write_faces_pack(models_root, size="full")
        write_open_clip(models_root, "ViT-B-32")
        source = work_dir / "source"
        source.mkdir()
        paths = make_images(source, args.images, (width, height))

        database = bench_database_url()
        reset_database(database)
        discovered, ids, paths = discovered_in_django(
            database,
            source,
            len(paths),
            MODELS_ROOT=str(models_root),
            FACES_PACK="buffalo_l",  # the synthetic graphs have buffalo_l's sizes and file names
            CLASSIFY_MODEL="ViT-B-32",
            CLASSIFY_CHECKPOINT=CLIP_CHECKPOINT,
            CLASSIFY_VOCABULARY=str(VOCABULARY),
            FACES_DECODE_THREADS=str(args.decode_threads),
            CLASSIFY_DECODE_THREADS=str(args.decode_threads),
        )

        rows: list[Row] = []
        devices: dict[str, str] = {}
        load_before = os.getloadavg()[0]
        for stage in stages:
            stage_rows, provenance = measure(stage, discovered, ids, paths, batch_sizes, args.repeat)
            rows += stage_rows
            devices[stage] = provenance.get("device", "?")
        load_after = os.getloadavg()[0]
        from django.db import connections

        connections.close_all()
    drop_database(database)

    lines = [
        "# ML stages: throughput",
        "",
        f"{args.images} JPEG photos of {width}x{height} (0-2 faces each) in one scan batch; "
        f"{args.decode_threads} decode threads per stage; best of {args.repeat} interleaved runs.",
        f"Models with random weights: ViT-B-32; detector {macs['det_10g.onnx'] / 1e9:.1f} GMAC at 640x640, recogniser "
        f"{macs['w600k_r50.onnx'] / 1e9:.1f} GMAC per face (buffalo_l sizes).",
        "",
        *device_report(),
        f"- devices used: {', '.join(f'{stage} on {device}' for stage, device in devices.items())}",
        f"- load average (1 min) of the host before / after: {load_before:.1f} / {load_after:.1f}",
        "",
        "| stage | batch | stage img/s | bare, stage's decodes | stage / bare | bare, full decode | stage / bare full "
        "| model load s | faces found |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r.stage} | {r.batch} | {r.stage_rate:.2f} | {r.reduced_rate:.2f} | "
            f"{r.stage_rate / r.reduced_rate:.2f}x | {r.full_rate:.2f} | {r.stage_rate / r.full_rate:.2f}x | "
            f"{r.load_s:.1f} | {r.faces if r.stage == 'faces' else ''} |"
            for r in rows
        ),
        "",
        "Stage: jobs.pipeline.stages.stage_batch_run on a committed scan batch (what a worker's stage task runs, less",
        "the broker): evidence paths from the database, reduced JPEG decode and preprocessing on worker threads",
        "overlapping inference, alignment, face crops, results upserted into PostgreSQL, progress counted. Bare",
        "loops: the same loaded models, decode and inference one micro-batch after another, no database; the",
        "stage's decodes = the draft sizes the stage asks for (and its finer decode where a face is too small to",
        "align), full decode = every pixel. Batch: images per micro-batch (FACES_BATCH_SIZE / CLASSIFY_BATCH_SIZE);",
        "faces are detected one image per call in both. Model load is timed apart (once per worker process).",
        "Goal: stage >= 0.8x the bare loop with the stage's decodes.",
    ]
    report_save(lines, args.output)


if __name__ == "__main__":
    main()
