"""Near-duplicate images (PDQ, extractors.pdq): an image's near-duplicates among the jobs a user may see, and a
job's near-duplicate groups.

Exact duplicates (the same SHA-256: one Image row found at several paths or in several jobs) and near-duplicates
(other content within the PDQ distance) are always kept apart. Two images are near-duplicates when one's hash lies
within the job's `distance` of one of the other's 8 dihedral hashes (so rotated and mirrored copies match) and both
have at least the job's `quality`; both thresholds are those frozen with the job the question is asked from.

Searches go through multi-index hashing (extractors.pdqindex), never a scan of every pair. An index is built per
scope (the set of jobs searched) and kept in this process until one of its jobs' pdq results change (their
StageProgress counts), so a scope's first search pays for the build and the next ones do not.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from content.models import PdqHash
from extractors.pdq import DEFAULT_DISTANCE, DEFAULT_QUALITY
from extractors.pdqindex import (
    NearIndex,
    codes_from_dihedral,
    codes_from_hex,
    near_pairs,
    nearest_by_image,
    union_groups,
)
from jobs.access import User, job_list_for_user
from jobs.config import JobConfig
from jobs.models import FileInstance, Job, JobImage, StageProgress

STAGE = "pdq"
MAX_LISTED = 200  # the most near-duplicates or copies one answer lists
CACHED = 8  # scopes (and job groupings) kept per process

T = TypeVar("T")


@dataclass(frozen=True)
class Thresholds:
    distance: int
    quality: int


def thresholds(job: Job) -> Thresholds:
    """The near-duplicate thresholds frozen with the job."""
    params = job.run_config.params.get(STAGE, {})
    return Thresholds(int(params.get("distance", DEFAULT_DISTANCE)), int(params.get("quality", DEFAULT_QUALITY)))


@dataclass(frozen=True)
class Copy:
    """The same content at another path (an exact duplicate)."""

    file_id: int
    job_id: int
    job_name: str
    case: str
    path: str


@dataclass(frozen=True)
class NearDuplicate:
    image_id: int
    job_id: int
    job_name: str
    case: str
    distance: int
    quality: int
    sha256: str


@dataclass(frozen=True)
class Similar:
    """What is like one image. `hashed`: whether the job's pdq stage hashed it (False: not analysed, which is no
    finding). `quality`: its PDQ quality; below `thresholds.quality` it matches nothing."""

    hashed: bool
    quality: int | None
    thresholds: Thresholds
    exact: list[Copy]
    near: list[NearDuplicate]


class _Cache:
    """A few values per process, by key, the least recently used dropped first; safe between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = build()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_scopes = _Cache(CACHED)
_groupings = _Cache(CACHED)


def _stamp(jobs: Iterable[tuple[int, str]]) -> tuple:
    """What identifies a set of jobs' pdq results: each job, the pdq version it ran, and how many of its images the
    stage has finished (it grows with every batch; a rerun is another job)."""
    jobs = sorted(jobs)
    counts = dict(
        StageProgress.objects.filter(job_id__in=[job_id for job_id, _ in jobs], stage=STAGE).values_list(
            "job_id", "done"
        )
    )
    return tuple((job_id, version, counts.get(job_id, 0)) for job_id, version in jobs)


@dataclass(frozen=True)
class _Scope:
    """Rows: (job, image) pairs with a hash, in one index."""

    index: NearIndex
    job_ids: np.ndarray
    image_ids: np.ndarray
    qualities: np.ndarray


def _rows(jobs: Iterable[tuple[int, str]]) -> tuple[list[int], list[int], list[str], list[int]]:
    """job ids, image ids, hashes and qualities of the jobs' images, each job's from the pdq version it ran."""
    by_version: dict[str, list[int]] = {}
    for job_id, version in jobs:
        by_version.setdefault(version, []).append(job_id)
    job_ids: list[int] = []
    image_ids: list[int] = []
    hashes: list[str] = []
    qualities: list[int] = []
    for version, ids in by_version.items():
        rows = (
            JobImage.objects.filter(job_id__in=ids)
            .filter(image__pdq_hashes__result__extractor_version=version)
            .values_list("job_id", "image_id", "image__pdq_hashes__hash", "image__pdq_hashes__quality")
        )
        for job_id, image_id, found, quality in rows.iterator(chunk_size=10_000):
            job_ids.append(job_id)
            image_ids.append(image_id)
            hashes.append(found)
            qualities.append(quality)
    return job_ids, image_ids, hashes, qualities


def _scope(jobs: list[tuple[int, str]]) -> _Scope:
    def build() -> _Scope:
        job_ids, image_ids, hashes, qualities = _rows(jobs)
        return _Scope(
            index=NearIndex(codes_from_hex(hashes)),
            job_ids=np.array(job_ids, dtype=np.int64),
            image_ids=np.array(image_ids, dtype=np.int64),
            qualities=np.array(qualities, dtype=np.int64),
        )

    return _scopes.get(_stamp(jobs), build)


def _hash_of(job: Job, image_id: int) -> PdqHash | None:
    return PdqHash.objects.filter(image_id=image_id, result__extractor_version=job.run_config.version(STAGE)).first()


def similar_for_user(*, user: User, job: Job, image_id: int) -> Similar:
    """An image's exact duplicates (its other paths) and near-duplicates in the jobs `user` may see (this job
    included), nearest first, at most MAX_LISTED of each. `job` is one the caller has checked the user may see."""
    limits = thresholds(job)
    visible = list(job_list_for_user(user=user).values_list("id", "name", "case__reference", "config"))
    names = {job_id: (name, case) for job_id, name, case, _config in visible}
    copies = (
        FileInstance.objects.filter(job_id__in=names, image_id=image_id, status=FileInstance.Status.IMAGE)
        .order_by("job_id", "path", "id")
        .values_list("id", "job_id", "path")[: MAX_LISTED + 1]
    )
    exact = [Copy(file_id, job_id, *names[job_id], path) for file_id, job_id, path in copies]
    own = _hash_of(job, image_id)
    if own is None or own.quality < limits.quality:
        return Similar(own is not None, own.quality if own else None, limits, exact, [])
    hashed_jobs = [
        (job_id, JobConfig.from_stored(config or {}).version(STAGE))
        for job_id, _name, _case, config in visible
        if STAGE in (config or {}).get("stages", ())
    ]
    scope = _scope(hashed_jobs)
    found = nearest_by_image(scope.index, bytes(own.dihedral), limits.distance)
    near: dict[tuple[int, int], NearDuplicate] = {}
    positions = [p for p in found if scope.image_ids[p] != image_id and scope.qualities[p] >= limits.quality]
    positions.sort(key=lambda p: (found[p], int(scope.job_ids[p]), int(scope.image_ids[p])))
    sha256s = dict(
        JobImage.objects.filter(image_id__in=[int(scope.image_ids[p]) for p in positions[:MAX_LISTED]]).values_list(
            "image_id", "image__sha256"
        )
    )
    for position in positions[:MAX_LISTED]:
        other, in_job = int(scope.image_ids[position]), int(scope.job_ids[position])
        near[other, in_job] = NearDuplicate(
            image_id=other,
            job_id=in_job,
            job_name=names[in_job][0],
            case=names[in_job][1],
            distance=found[position],
            quality=int(scope.qualities[position]),
            sha256=sha256s.get(other, ""),
        )
    return Similar(True, own.quality, limits, exact, list(near.values()))


@dataclass(frozen=True)
class JobGroups:
    """A job's near-duplicate groups. `group`: image id -> its group's key (the smallest image id in it), for the
    images with at least one near-duplicate in the job; `neighbours`: image id -> the ids of the job's images
    within the distance of it (directly, not through others)."""

    group: dict[int, int]
    neighbours: dict[int, list[int]]

    def members(self, image_id: int) -> list[int]:
        key = self.group.get(image_id)
        return sorted(i for i, k in self.group.items() if k == key) if key is not None else [image_id]


def job_groups(*, job: Job) -> JobGroups:
    """The job's near-duplicate groups (kept per process until the job's pdq results change)."""
    version = job.run_config.version(STAGE)
    limits = thresholds(job)
    if not version:
        return JobGroups({}, {})

    def build() -> JobGroups:
        rows = list(
            PdqHash.objects.filter(
                result__extractor_version=version,
                quality__gte=limits.quality,
                image__job_images__job=job,
            )
            .order_by("image_id")
            .values_list("image_id", "dihedral")
        )
        ids = np.array([image_id for image_id, _ in rows], dtype=np.int64)
        a, b, _d = near_pairs(codes_from_dihedral([blob for _, blob in rows]), limits.distance)
        labels = union_groups(len(ids), a, b)
        neighbours: dict[int, list[int]] = {}
        for x, y in zip(ids[a].tolist(), ids[b].tolist(), strict=True):
            neighbours.setdefault(x, []).append(y)
            neighbours.setdefault(y, []).append(x)
        group = {int(ids[i]): int(ids[labels[i]]) for i in set(a.tolist()) | set(b.tolist())}
        return JobGroups(group, neighbours)

    return _groupings.get(("job", *_stamp([(job.pk, version)]), limits), build)


def similar_caches_clear() -> None:
    """Forget every index this process keeps. For test fixtures only."""
    _scopes.clear()
    _groupings.clear()
