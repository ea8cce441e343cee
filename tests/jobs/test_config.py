"""What a job runs with (jobs.config): the JobConfig stored with a job reads back as it was written, a config an
earlier release stored reads with today's defaults, it cannot be changed once made, and the extractor contexts a
stage runs with take the job's frozen parameters and the host's device."""

import dataclasses

import pytest

from jobs.config import JobConfig, extractor_context
from jobs.models import Job
from jobs.services import job_create
from jobs.similar import Thresholds, thresholds

STORED = {
    "stages": ["exif", "faces"],
    "versions": {"exif": "exif-1", "faces": "faces-2+0123456789"},
    "params": {"exif": {}, "faces": {"pack": "yunet_sface", "det_threshold": 0.6, "det_size": [640, 640]}},
    "max_image_pixels": 1000,
    "verify": "full",
    "batch_files": 16,
    "batch_bytes": 4096,
    "batch_seconds": 0.5,
}


def test_a_stored_config_reads_and_writes_back_the_same():
    config = JobConfig.from_stored(STORED)
    assert config.stages == ("exif", "faces")
    assert (config.version("faces"), config.version("classify")) == ("faces-2+0123456789", "")
    assert config.params["faces"]["det_threshold"] == 0.6
    assert (config.max_image_pixels, config.verify, config.batch_files) == (1000, "full", 16)
    assert (config.batch_bytes, config.batch_seconds) == (4096, 0.5)
    assert config.to_stored() == STORED
    assert JobConfig.from_stored(config.to_stored()) == config
    assert Job(config=STORED).run_config == config


def test_a_new_job_stores_what_it_runs_with(db, settings, tmp_path):
    settings.SCAN_BATCH_FILES = 7
    job = job_create(name="config", source_path=tmp_path, stages=["exif", "faces"])
    job.refresh_from_db()
    assert job.config == JobConfig.from_settings(["exif", "faces"]).to_stored()
    assert set(job.config) == set(STORED)  # the stored shape, key for key
    config = job.run_config
    assert (config.stages, config.batch_files) == (("exif", "faces"), 7)
    # A face pack's own thresholds are frozen with the job.
    assert config.params["faces"]["det_threshold"] is not None
    assert set(config.versions) == {"exif", "faces"}


def test_a_config_stored_by_an_earlier_release_reads_with_todays_defaults(settings):
    settings.SCAN_MAX_IMAGE_PIXELS, settings.SCAN_VERIFY = 5000, "structure"
    settings.SCAN_BATCH_FILES, settings.SCAN_BATCH_BYTES, settings.SCAN_BATCH_SECONDS = 8, 1024, 2.0
    # Before results were keyed by the parameters that change them, a job stored no "params".
    earlier = JobConfig.from_stored({key: value for key, value in STORED.items() if key != "params"})
    assert (earlier.stages, earlier.params, earlier.max_image_pixels) == (("exif", "faces"), {}, 1000)
    # The column's default, an empty object, reads as a job with no stages and today's limits.
    empty = JobConfig.from_stored({})
    assert (empty.stages, empty.versions, empty.params, empty.version("exif")) == ((), {}, {}, "")
    limits = (empty.max_image_pixels, empty.verify, empty.batch_files, empty.batch_bytes, empty.batch_seconds)
    assert limits == (5000, "structure", 8, 1024, 2.0)


def test_a_config_cannot_be_changed():
    config = JobConfig.from_stored(STORED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_files = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.versions["exif"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        config.params["faces"]["det_threshold"] = 0.1  # type: ignore[index]
    # A changed copy is a new config; the one stored is untouched.
    assert dataclasses.replace(config, batch_files=1).to_stored() == {**STORED, "batch_files": 1}
    assert config.to_stored() == STORED


def test_stage_devices_reach_the_extractor_context(settings):
    settings.STAGE_DEVICES = {"faces": "cuda:1", "default": "cpu"}
    assert extractor_context("faces").device == "cuda:1"
    assert extractor_context("classify").device == "cpu"
    settings.STAGE_DEVICES = {"default": "auto"}
    assert extractor_context("faces").device == "auto"
    # The device is the host's own: a job freezes the parameters that change results, never where they run.
    job = Job(config={"params": {"faces": {"det_threshold": 0.7}}, "max_image_pixels": 1000})
    settings.STAGE_DEVICES = {"faces": "cuda"}
    context = extractor_context("faces", job.run_config)
    assert (context.device, context.params["det_threshold"], context.max_image_pixels) == ("cuda", 0.7, 1000)


def test_the_extractor_context_takes_the_frozen_params_over_the_hosts(settings):
    settings.SCAN_MAX_IMAGE_PIXELS = 2000
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": {"det_threshold": 0.5, "batch_size": 4}}
    config = JobConfig.from_stored(STORED)
    context = extractor_context("faces", config)
    # Frozen at the job's creation: its thresholds, pack and pixel limit; the host's own: its batch size.
    frozen = (context.params["det_threshold"], context.params["pack"], context.max_image_pixels)
    assert frozen == (0.6, "yunet_sface", 1000)
    assert context.params["batch_size"] == 4
    # Without a job, the host's settings alone.
    host = extractor_context("faces")
    assert (host.params["det_threshold"], host.max_image_pixels) == (0.5, 2000)


def test_a_job_freezes_its_near_duplicate_thresholds(db, settings, tmp_path):
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "pdq": {"distance": 20, "decode_threads": 4}}
    job = job_create(name="pdq", source_path=tmp_path, stages=["pdq"])
    assert job.run_config.params["pdq"] == {"distance": 20, "quality": 50}  # the threads are the host's own
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "pdq": {"distance": 31}}
    later = job_create(name="pdq again", source_path=tmp_path, stages=["pdq"])
    job.refresh_from_db()
    assert thresholds(job) == Thresholds(20, 50)
    assert thresholds(later) == Thresholds(31, 50)
    # Other thresholds, other results: content is hashed again for a job that finds near-duplicates otherwise.
    assert job.run_config.version("pdq") != later.run_config.version("pdq")
