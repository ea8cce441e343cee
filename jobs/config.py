"""What a job runs with, frozen at its creation (`JobConfig`, stored as JSON in Job.config), and the extractor
contexts it gives its stages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.conf import settings

from extractors.base import ExtractorContext
from extractors.registry import get_registry


def _scan_settings() -> dict[str, Any]:
    """The limits and batch sizes a job created now freezes, by their stored keys."""
    return {
        "max_image_pixels": settings.SCAN_MAX_IMAGE_PIXELS,
        "verify": settings.SCAN_VERIFY,
        "batch_files": settings.SCAN_BATCH_FILES,
        "batch_bytes": settings.SCAN_BATCH_BYTES,
        "batch_seconds": settings.SCAN_BATCH_SECONDS,
    }


@dataclass(frozen=True)
class JobConfig:
    """A job's stages, the extractor version each ran with, the parameters that change results (thresholds, model
    choice, a face pack's resolved thresholds) per stage, and the limits and batch sizes of its discovery.

    Read-only: attributes cannot be assigned, and the mappings are read-only views. Stored as the JSON that
    `to_stored` gives; `from_stored` reads what any release stored, a key missing from an older row taking the
    value a job created now would have."""

    stages: tuple[str, ...]
    versions: Mapping[str, str]
    params: Mapping[str, Mapping[str, Any]]
    max_image_pixels: int
    verify: str  # "full" decodes every image when it is found; otherwise only its structure is checked
    batch_files: int
    batch_bytes: int
    batch_seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        frozen = {stage: MappingProxyType(dict(values)) for stage, values in self.params.items()}
        object.__setattr__(self, "params", MappingProxyType(frozen))

    @classmethod
    def from_settings(cls, stages: Sequence[str] | None = None) -> JobConfig:
        """The config of a job created now: `stages` (by default SCAN_STAGES, or every installed stage), their
        versions under today's STAGE_PARAMS, and today's limits and batch sizes. Only the parameters that change
        results are frozen (an extractor may fill in defaults of its own first, as a face pack's thresholds, so that
        the job keeps them); batch sizes, threads and devices of the stages stay each host's own. Raises KeyError
        for a stage that is not installed."""
        registry = get_registry()
        stages = list(stages if stages is not None else settings.SCAN_STAGES or registry.names())
        params = {}
        for stage in stages:
            extractor = registry.extractor_class(stage)
            configured = settings.STAGE_PARAMS.get(stage, {})
            resolved = extractor.resolved_params(configured) if hasattr(extractor, "resolved_params") else configured
            params[stage] = {
                key: value for key, value in resolved.items() if key in getattr(extractor, "result_params", ())
            }
        versions = registry.versions(params)
        return cls(
            stages=stages, versions={stage: versions[stage] for stage in stages}, params=params, **_scan_settings()
        )

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> JobConfig:
        """The config stored in Job.config by this or an earlier release (see the class)."""
        return cls(
            stages=stored.get("stages", ()),
            versions=stored.get("versions", {}),
            params=stored.get("params", {}),
            **{key: stored.get(key, value) for key, value in _scan_settings().items()},
        )

    def to_stored(self) -> dict[str, Any]:
        """The JSON stored in Job.config (its keys and shape are the database's contract)."""
        return {
            "stages": list(self.stages),
            "versions": dict(self.versions),
            "params": {stage: dict(values) for stage, values in self.params.items()},
            "max_image_pixels": self.max_image_pixels,
            "verify": self.verify,
            "batch_files": self.batch_files,
            "batch_bytes": self.batch_bytes,
            "batch_seconds": self.batch_seconds,
        }

    def version(self, stage: str) -> str:
        """The extractor version the stage runs with; "" for a stage the job does not run."""
        return self.versions.get(stage, "")


def extractor_context(stage: str, config: JobConfig | None = None) -> ExtractorContext:
    """What a stage runs with: this host's settings (models folder, device, batch sizes, threads), with the
    parameters that change results (thresholds, model choice) and the pixel limit taken from the job's config, as
    they were frozen at its creation. Without a config, this host's settings alone."""
    frozen = config.params.get(stage, {}) if config is not None else {}
    return ExtractorContext(
        models_root=settings.MODELS_ROOT,
        device=settings.STAGE_DEVICES.get(stage, settings.STAGE_DEVICES.get("default", "cpu")),
        max_image_pixels=config.max_image_pixels if config is not None else settings.SCAN_MAX_IMAGE_PIXELS,
        params={**settings.STAGE_PARAMS.get(stage, {}), **frozen},
    )


def stage_queue(stage: str) -> str:
    """The queue a stage's tasks go to: its extractor's, unless SCAN_STAGE_QUEUES sends it elsewhere."""
    return settings.SCAN_STAGE_QUEUES.get(stage) or get_registry().extractor_class(stage).queue
