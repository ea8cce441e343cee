"""What a stage task runs with: the host's device and settings, the job's frozen parameters, and what it records
when the stage cannot run on this host."""

import sys

import pytest

from extractors.base import StageUnavailable
from extractors.registry import get_registry
from jobs.config import extractor_context
from jobs.models import Job, StageProgress
from jobs.pipeline.scanning import scan_job
from jobs.pipeline.stages import stage_batch_run
from jobs.services import job_create
from tests.support.ml import classify_params, face_picture, faces_params, write_picture


def test_the_device_setting_reaches_the_loaded_models(settings, tiny_models, fresh_registry):
    settings.MODELS_ROOT = tiny_models
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": faces_params()}  # the tiny pack is a buffalo_l
    settings.STAGE_DEVICES = {"faces": "cpu", "default": "auto"}
    _extractor, provenance = get_registry().loaded("faces", extractor_context("faces"))
    assert provenance.params["device"] == "cpu"


def test_a_cuda_device_on_a_host_without_one_is_unavailable(settings, tiny_models, fresh_registry, mocker):
    import onnxruntime

    # A host without a GPU, wherever the test runs (a GPU host's onnxruntime lists the CUDA provider).
    mocker.patch.object(onnxruntime, "get_available_providers", autospec=True, return_value=["CPUExecutionProvider"])
    settings.MODELS_ROOT = tiny_models
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": faces_params()}  # the tiny pack is a buffalo_l
    settings.STAGE_DEVICES = {"faces": "cuda", "default": "cpu"}
    with pytest.raises(StageUnavailable, match="device cuda requested") as raised:
        get_registry().loaded("faces", extractor_context("faces"))
    assert "STAGE_DEVICES=faces=cpu" in raised.value.fix


@pytest.mark.parametrize(
    ("stage", "module"),
    [("faces", "onnxruntime"), ("faces", "insightface"), ("classify", "open_clip"), ("classify", "torch")],
)
def test_without_the_ml_libraries_the_stage_is_unavailable_with_the_fix(
    db, settings, monkeypatch, tiny_models, evidence_dir, fresh_registry, stage, module
):
    """A base-only install (requirements/base.txt): the model files are there, the library is not."""
    settings.MODELS_ROOT = tiny_models
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": faces_params(), "classify": classify_params()}
    write_picture(evidence_dir / "one.jpg", face_picture())
    job = job_create(name="base only", source_path=evidence_dir, stages=[stage])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    scan_job(job_id=job.pk, slice_seconds=60)  # discovery in this process; the batch is committed, not dispatched
    [batch] = job.batches.all()

    # Importing the package, or any module of it, now fails as it does where it is not installed.
    for name in [name for name in sys.modules if name.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    assert stage_batch_run(batch_id=batch.pk, stage=stage) == {"unavailable": 1}
    progress = StageProgress.objects.get(job=job, stage=stage)
    assert (progress.total, progress.unavailable, progress.done) == (1, 1, 0)
    # "faces: insightface.model_zoo is not installed (fix: ...)": the module the stage imports may be a submodule.
    assert progress.message.startswith(f"{stage}: {module}")
    requirements = "faces.txt" if stage == "faces" else "ml.txt"
    assert progress.message.endswith(f" is not installed (fix: pip install -r requirements/{requirements})")

    # Installing the library makes the stage available without restarting the worker: unavailability is not cached.
    monkeypatch.undo()
    _extractor, provenance = get_registry().loaded(stage, extractor_context(stage, job.run_config))
    assert provenance.stage == stage
