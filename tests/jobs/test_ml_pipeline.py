"""The faces and classify stages through the real pipeline: a scan on real Celery workers, results in
PostgreSQL, the export, text search, and a host without models."""

import hashlib
import io
import json
import re
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from content.models import Classification, Face, StageResult
from extractors.registry import get_registry
from jobs.config import extractor_context
from jobs.models import BatchStage, Job
from jobs.samples import packaged_photo
from jobs.search import job_faces_like
from tests.support.ml import CLIP_CHECKPOINT, FACE, classify_params, face_picture, write_picture

pytestmark = pytest.mark.integration


def _evidence(root):
    write_picture(root / "phone" / "two.jpg", face_picture(faces=((256, 192), (640, 448))))
    write_picture(root / "phone" / "turned.jpg", face_picture(faces=((320, 128),)), orientation=6)
    write_picture(root / "camera" / "nobody.jpg", face_picture(faces=(), shade=90))
    shutil.copyfile(root / "phone" / "two.jpg", root / "camera" / "copy-of-two.jpg")
    whole = (root / "camera" / "nobody.jpg").read_bytes()
    (root / "camera" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("not an image\n")


def _scan(root, name):
    out = io.StringIO()
    call_command("scan", str(root), "--name", name, stdout=out)
    return Job.objects.get(name=name), out.getvalue()


def _export(job, folder):
    target = folder / f"job-{job.pk}.jsonl"
    call_command("export", str(job.pk), "--format", "jsonl", "-o", str(target), stderr=io.StringIO())
    return {record["path"]: record for record in map(json.loads, target.read_text().splitlines())}


def test_a_scan_finds_faces_and_tags_on_real_workers(
    transactional_db, ml_workers, tiny_models, evidence_dir, settings, fresh_registry, tmp_path
):
    ml_workers(tiny_models)
    _evidence(evidence_dir)
    job, _summary = _scan(evidence_dir, "ml pipeline")
    assert job.status == Job.Status.COMPLETED
    progress = {p.stage: p for p in job.stage_progress.all()}
    for stage in ("faces", "classify"):
        p = progress[stage]
        assert (p.total, p.done, p.failed, p.skipped, p.unavailable) == (3, 3, 0, 0, 0), p.message

    # Provenance: every row names the model files by SHA-256, and the thresholds used.
    files = ["models/buffalo_l/det_10g.onnx", "models/buffalo_l/w600k_r50.onnx"]
    digests = {path: hashlib.sha256((tiny_models / path).read_bytes()).hexdigest() for path in files}
    listing = "".join(f"{digests[path]}  {path}\n" for path in files)
    for result in StageResult.objects.filter(stage="faces"):
        assert result.status == StageResult.Status.DONE
        assert result.model_sha256 == hashlib.sha256(listing.encode()).hexdigest()
        assert result.params["model_files"] == digests
        assert (result.params["det_threshold"], result.params["min_face_size"]) == (0.5, 20)
    checkpoint_sha = hashlib.sha256((tiny_models / CLIP_CHECKPOINT).read_bytes()).hexdigest()
    assert set(StageResult.objects.filter(stage="classify").values_list("model_sha256", flat=True)) == {checkpoint_sha}

    # Faces in upright full-resolution pixels, also for the photo stored sideways with EXIF orientation 6.
    turned = Face.objects.get(image__instances__path="phone/turned.jpg")
    assert (turned.image.width, turned.image.height, turned.image.orientation) == (1280, 960, 6)
    assert (turned.x, turned.y, turned.width, turned.height) == pytest.approx((320, 128, FACE, FACE), abs=1.0)
    assert len(turned.landmarks) == 5
    embedding = np.frombuffer(bytes(turned.embedding), dtype="<f4")
    assert embedding.shape == (512,)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert bytes(turned.crop)[:2] == b"\xff\xd8"
    classification = Classification.objects.get(image=turned.image)
    assert classification.embedding_dim == 32
    assert len(classification.tags) == 5

    records = _export(job, tmp_path)
    assert {path: r["faces"] for path, r in records.items()} == {
        "phone/two.jpg": 2, "phone/turned.jpg": 1, "camera/nobody.jpg": 0, "camera/copy-of-two.jpg": 2,
        "camera/cut.jpg": None, "notes.txt": None,
    }  # fmt: skip
    assert len(records["camera/nobody.jpg"]["tags"].split("; ")) == 5
    assert records["notes.txt"]["tags"] is None

    # Text search ranks the job's images with the same model, here in the test process.
    settings.MODELS_ROOT = tiny_models
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "classify": classify_params()}
    out = io.StringIO()
    call_command("search", str(job.pk), "a white square on grey", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    extractor, _ = get_registry().loaded("classify", extractor_context("classify"))
    query = np.frombuffer(extractor.text_embedding("a white square on grey"), dtype="<f4")
    expected = sorted(
        ((float(np.frombuffer(bytes(c.embedding), "<f4") @ query), c.image_id) for c in Classification.objects.all()),
        reverse=True,
    )
    assert [line.split()[1] for line in lines] == [f"{score:+.4f}" for score, _ in expected]
    assert [int(re.search(r"\(image (\d+),", line)[1]) for line in lines] == [image_id for _, image_id in expected]


def test_without_models_the_stages_are_unavailable_and_the_job_completes(
    transactional_db, ml_workers, evidence_dir, tmp_path
):
    ml_workers(tmp_path / "no-models")
    write_picture(evidence_dir / "one.jpg", face_picture())
    job, summary = _scan(evidence_dir, "no models")
    assert job.status == Job.Status.COMPLETED
    progress = {p.stage: p for p in job.stage_progress.all()}
    assert (progress["faces"].total, progress["faces"].unavailable, progress["faces"].done) == (1, 1, 0)
    assert "python manage.py models install /path/to/buffalo_l.zip" in progress["faces"].message
    assert progress["classify"].unavailable == 1
    assert "python manage.py models install" in progress["classify"].message
    assert progress["exif"].done == 1
    assert "UNAVAILABLE for 1: faces: model pack buffalo_l is not installed" in summary
    record = _export(job, tmp_path)["one.jpg"]
    assert (record["faces"], record["tags"]) == (None, None)


def test_models_load_once_per_worker_process_not_once_per_batch(
    transactional_db, ml_workers, tiny_models, evidence_dir, settings, tmp_path
):
    hostname = ml_workers(tiny_models)
    settings.SCAN_BATCH_FILES = 1  # frozen with the job: one batch, and one task per stage, per picture
    for i, spot in enumerate(((256, 192), (640, 448), (320, 128))):
        write_picture(evidence_dir / f"{i}.jpg", face_picture(faces=(spot,)))
    job, _summary = _scan(evidence_dir, "three batches")
    assert job.status == Job.Status.COMPLETED
    for stage in ("faces", "classify"):
        assert BatchStage.objects.filter(batch__job=job, stage=stage, finished=True, done=1).count() == 3
    # The worker has one pool process (concurrency 1): each stage's models loaded there once, for all three tasks.
    log = (tmp_path / f"{hostname}.log").read_text(errors="replace")
    assert log.count("faces: loaded models/buffalo_l/det_10g.onnx") == 1, log
    assert log.count("classify: loaded tiny") == 1, log
    assert log.count("Task jobs.tasks.run_stage[") >= 6, log


def test_jobs_run_with_different_face_packs_never_compare_their_embeddings(
    transactional_db, ml_workers, tiny_models, real_models, evidence_dir, settings, tmp_path
):
    both = tmp_path / "both-packs"  # the default pack (real) and a SCRFD pack (tiny) on one host
    shutil.copytree(real_models, both)
    shutil.copytree(tiny_models / "models" / "buffalo_l", both / "models" / "buffalo_l")
    ml_workers(both)
    astronaut = Image.open(packaged_photo("skimage", "data/astronaut.png")).convert("RGB")
    write_picture(evidence_dir / "astronaut.png", astronaut, fmt="PNG")
    write_picture(evidence_dir / "mirrored.png", astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), fmt="PNG")
    write_picture(evidence_dir / "square.jpg", face_picture())  # what the tiny SCRFD graph takes for a face
    faces = settings.STAGE_PARAMS["faces"]
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": {**faces, "pack": "yunet_sface"}}
    default_job, summary = _scan(evidence_dir, "default pack")
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": {**faces, "pack": "buffalo_l"}}
    scrfd_job, _summary = _scan(evidence_dir, "scrfd pack")

    # Each job froze its pack's thresholds at its creation.
    frozen = default_job.run_config.params["faces"]
    assert (frozen["det_threshold"], frozen["min_face_size"], frozen["match_threshold"]) == (0.6, 20, 0.363)
    assert scrfd_job.run_config.params["faces"]["match_threshold"] == 0.4
    assert "faces found 2" in summary  # the astronaut and her mirror image; no face in the grey square
    default_faces = list(Face.objects.filter(result__extractor_version=default_job.run_config.version("faces")))
    scrfd_faces = list(Face.objects.filter(result__extractor_version=scrfd_job.run_config.version("faces")))
    assert len(default_faces) == 2
    assert scrfd_faces
    assert {f.result.params["embedding_dim"] for f in default_faces} == {128}
    assert {f.result.params["embedding_dim"] for f in scrfd_faces} == {512}

    # The same person is found within the default pack's embeddings, and nothing across the two packs.
    [match] = job_faces_like(job=default_job, face=default_faces[0])
    assert (match.face_id, match.same_person) == (default_faces[1].pk, True)
    assert job_faces_like(job=scrfd_job, face=default_faces[0]) == []
    assert job_faces_like(job=default_job, face=scrfd_faces[0]) == []
    out = io.StringIO()
    call_command("search", str(scrfd_job.pk), "--face", str(default_faces[0].pk), stdout=out)
    assert out.getvalue() == f"job {scrfd_job.pk}: no faces embedded by the recogniser of face {default_faces[0].pk}\n"
