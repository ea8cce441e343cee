"""The extractor contract: what every analysis stage (exif, faces, classify, ...) implements.

An extractor is a plain class with three class attributes and two methods:

    name: str       the stage name ("exif"); stable, used in the database and in queue names.
    version: str    the extractor version. It MUST change whenever the extractor's output for the same input can
                    change (new fields, a different model, a fixed bug). Results are keyed by (image, stage,
                    version): content analysed by the same version is never analysed again.
    queue: str      the Celery queue its work is routed to by default (deployments may override per stage).
    result_params: tuple[str, ...]
                    OPTIONAL. The parameters (keys of ExtractorContext.params) that change results: the model
                    chosen, thresholds, vocabulary. Results are keyed by `effective_version`, the version plus a
                    digest of these values, so a job run with other settings analyses the content again instead
                    of reusing results made with the old ones. Parameters that only change speed (batch sizes,
                    threads, device) MUST NOT be listed.
    resolved_params(params) -> dict
                    OPTIONAL classmethod. `params` with the extractor's own defaults filled in (a face pack's
                    thresholds): what a job freezes at its creation. MUST NOT raise.

    __init__(context: ExtractorContext)
                    MUST be cheap and MUST NOT raise: it only keeps the context.
    load() -> Provenance
                    loads models (if any) and returns what produced the results: model name, model file SHA-256,
                    parameters. It MAY be slow and is called once per process (the registry caches the loaded
                    extractor). It MUST raise StageUnavailable, with the exact command that fixes it, when a model or
                    a library is missing; it MUST NOT raise anything else for a missing or unreadable model file.
    run(batch: Sequence[ImageRef]) -> list[ItemResult]
                    analyses a batch and returns exactly one ItemResult per ImageRef, in any order.
                    - DONE: analysed; `data` holds the stage's frozen dataclass. Finding nothing (no EXIF, zero
                      faces) is DONE with an empty result, never SKIPPED or FAILED.
                    - FAILED: this image could not be analysed (corrupt pixels, hostile metadata); `error` says why
                      in words an examiner understands. A bad image MUST NOT raise out of run().
                    - SKIPPED: the stage does not apply to this image (for example a format it cannot read);
                      `error` says why.
                    run() MAY raise only for infrastructure faults (out of memory, a lost GPU, a missing evidence
                    mount); the caller retries those. Running the same batch again MUST give the same results.

The caller guarantees: load() returned before run(); every ImageRef.path is a regular file inside a source that the
caller already typed as a decodable image; run() is never called concurrently on one instance.

Extractors never import Django, Celery or anything that does HTTP: they are tested directly on image files.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True)
class ExtractorContext:
    """Configuration handed to an extractor. Built from settings by the caller; an extractor never reads settings."""

    models_root: Path
    device: str = "cpu"
    max_image_pixels: int = 89_478_485
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRef:
    """One image to analyse: its id, the path of one file that holds its content, and the MIME type discovery found
    (which picks the only decoder allowed to open it)."""

    image_id: int
    path: bytes
    mime: str
    orientation: int | None = None


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ItemResult:
    image_id: int
    outcome: Outcome
    data: Any = None
    error: str = ""


@dataclass(frozen=True)
class Provenance:
    """What produced a stage's results; stored with every result row."""

    stage: str
    version: str
    model_name: str = ""
    model_sha256: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


class StageUnavailable(Exception):
    """The stage cannot run on this host. `fix` is the exact command an operator runs to make it available."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.reason} (fix: {self.fix})" if self.fix else self.reason


def effective_version(extractor: type, params: Mapping[str, Any]) -> str:
    """The version results are keyed by: the extractor's own, plus a digest of the parameters that change them (with
    the extractor's own defaults filled in, so that an unset threshold and the default it stands for are one)."""
    keys = getattr(extractor, "result_params", ())
    if not keys:
        return extractor.version
    resolve = getattr(extractor, "resolved_params", None)
    params = resolve(params) if resolve is not None else params
    chosen = json.dumps({key: params.get(key) for key in keys}, sort_keys=True, default=str)
    return f"{extractor.version}+{hashlib.sha256(chosen.encode()).hexdigest()[:10]}"


@runtime_checkable
class Extractor(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]
    queue: ClassVar[str]

    def __init__(self, context: ExtractorContext) -> None: ...

    def load(self) -> Provenance: ...

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]: ...
