"""Matching a job's images against the PDQ sets of the hash-set library (hashsets, kind pdq: ThreatExchange's
`hash,quality` lists) by distance, not by equal digest.

An image matches an entry when one of its 8 dihedral hashes (so a rotated or mirrored copy matches) lies within the
job's frozen PDQ distance of the entry's hash, and both the image's and the entry's quality are at least the job's
quality threshold (jobs.similar.thresholds; an entry without a quality is not held back). Only the PDQ hashes the
job's pdq stage recorded are read, never the evidence. Each match is a HashMatch of every file instance of the image
in the job, with the algorithm PDQ and the smallest distance found.

A PDQ set is a list of known images, and its matches are findings like a known-bad or alert set's (FLAGGING_KINDS):
the set's (or entry's) category is proposed in the case, the image is badged and veiled in the gallery, and the
export names the set with the distance.

Each set's entries go into a faiss multi-hash index (extractors.pdqindex), built once per process and kept while the
set's id and entry count stay the same, so a set of a million entries answers a batch in milliseconds after its
first build.

Matching runs when the pdq stage saved a batch's results (jobs.pipeline.stages), and over every job when a set
becomes READY and enabled (`pdq_matches_refresh`, beside jobs.hashmatching.hash_matches_refresh, which removes the
matches of a set disabled or gone). A batch asks the database whether a PDQ set is there, unlike the scan's batches
(jobs.hashmatching.hash_sets_active): an indexed query on a small table is nothing beside hashing a batch of images,
and an answer kept in the process would miss the batches hashed in the moments after a set changed, which only a
second search of every image of the job would find again."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from content.models import PdqHash
from extractors.pdqindex import NearIndex, codes_from_dihedral, codes_from_hex
from hashsets.models import HashEntry, HashSet
from jobs.hashmatching import hash_matches_audit, hash_matches_propose
from jobs.models import FileInstance, HashMatch, Job
from jobs.progress.publisher import progress_changed
from jobs.similar import STAGE, thresholds

# Images searched at once: their dihedral hashes (8 x 32 bytes each) are held in memory together.
CHUNK = 10_000
DIHEDRAL_ROWS = 8
# An entry without a quality of its own counts as this (not held back by the job's threshold).
UNSTATED_QUALITY = 100


def pdq_sets() -> QuerySet[HashSet]:
    """The PDQ sets images are matched against."""
    return HashSet.objects.filter(status=HashSet.Status.READY, enabled=True, kind=HashSet.Kind.PDQ)


@dataclass(frozen=True)
class _SetIndex:
    """One set's entries: rows of `index` are rows of `qualities` and `categories`."""

    index: NearIndex
    qualities: np.ndarray
    categories: list[str]


_indexes: dict[int, tuple[int, _SetIndex]] = {}
_indexes_lock = threading.Lock()


def _set_index(hash_set: HashSet) -> _SetIndex:
    """The set's index, built on first use and kept while its entry count stays the same (an import never changes a
    READY set's entries: it makes another set)."""
    with _indexes_lock:
        kept = _indexes.get(hash_set.pk)
    if kept is not None and kept[0] == hash_set.entries:
        return kept[1]
    hexes: list[str] = []
    qualities: list[int] = []
    categories: list[str] = []
    rows = HashEntry.objects.filter(hash_set_id=hash_set.pk, algorithm=HashEntry.Algorithm.PDQ).order_by()
    for digest, quality, category in rows.values_list("digest", "quality", "category").iterator(chunk_size=50_000):
        hexes.append(digest)
        qualities.append(UNSTATED_QUALITY if quality is None else quality)
        categories.append(category or hash_set.category)
    built = _SetIndex(NearIndex(codes_from_hex(hexes)), np.array(qualities, dtype=np.int64), categories)
    with _indexes_lock:
        _indexes[hash_set.pk] = (hash_set.entries, built)
    return built


def pdq_indexes_forget(keep: Iterable[int] = ()) -> None:
    """Drop the indexes of the sets not in `keep` (all of them by default)."""
    keep = set(keep)
    with _indexes_lock:
        for set_id in [s for s in _indexes if s not in keep]:
            del _indexes[set_id]


def _found(job: Job, image_ids: Iterable[int] | None, sets: list[HashSet]) -> dict[tuple[int, int], tuple[int, str]]:
    """(image id, set id) -> (smallest distance, category of that entry) for the job's hashed images (those of
    `image_ids`, or all) within the job's thresholds of an entry of one of `sets`."""
    version = job.run_config.version(STAGE)
    if not version or not sets:
        return {}
    limits = thresholds(job)
    hashes = PdqHash.objects.filter(
        result__extractor_version=version, quality__gte=limits.quality, image__job_images__job=job
    )
    if image_ids is not None:
        hashes = hashes.filter(image_id__in=list(image_ids))
    indexes = [(hash_set.pk, _set_index(hash_set)) for hash_set in sets]
    found: dict[tuple[int, int], tuple[int, str]] = {}
    chunk: list[tuple[int, bytes]] = []
    rows = hashes.order_by().values_list("image_id", "dihedral").iterator(chunk_size=CHUNK)
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            _search(chunk, indexes, limits.distance, limits.quality, found)
            chunk = []
    _search(chunk, indexes, limits.distance, limits.quality, found)
    return found


def _search(
    chunk: list[tuple[int, bytes]],
    indexes: list[tuple[int, _SetIndex]],
    distance: int,
    quality: int,
    found: dict[tuple[int, int], tuple[int, str]],
) -> None:
    if not chunk:
        return
    image_ids = np.array([image_id for image_id, _ in chunk], dtype=np.int64)
    codes = codes_from_dihedral([blob for _, blob in chunk])
    for set_id, entries in indexes:
        rows, positions, distances = entries.index.within(codes, distance)
        keep = entries.qualities[positions] >= quality
        rows, positions, distances = rows[keep], positions[keep], distances[keep]
        images = image_ids[rows // DIHEDRAL_ROWS]
        for image_id, position, found_distance in zip(
            images.tolist(), positions.tolist(), distances.tolist(), strict=True
        ):
            key = (image_id, set_id)
            if key not in found or found_distance < found[key][0]:
                found[key] = (found_distance, entries.categories[position])


def pdq_matches_for_job(
    job: Job, image_ids: Iterable[int] | None = None, *, hash_set_id: int | None = None
) -> Counter[int]:
    """Match the job's hashed images (those of `image_ids`, or all of them) against the PDQ sets (or the one set
    `hash_set_id`), recording a match for each file instance of a matching image that has none with the set yet;
    propose the category of each new match in the job's case, and tell the pages following the job. Reads the
    database only. Returns the new matches by set id."""
    sets = pdq_sets().filter(pk=hash_set_id) if hash_set_id else pdq_sets()
    listed = list(sets)
    if hash_set_id is None:
        pdq_indexes_forget(keep=[s.pk for s in listed])
    found = _found(job, image_ids, listed)
    if not found:
        return Counter()
    files: dict[int, list[int]] = {}
    rows = FileInstance.objects.filter(job_id=job.pk, image_id__in={image for image, _ in found})
    for file_id, image_id in rows.values_list("id", "image_id"):
        files.setdefault(image_id, []).append(file_id)
    with transaction.atomic():
        matched = HashMatch.objects.filter(
            job_id=job.pk,
            hash_set_id__in={set_id for _, set_id in found},
            file_instance_id__in=[file_id for ids in files.values() for file_id in ids],
        )
        recorded = set(matched.values_list("file_instance_id", "hash_set_id"))
        now = timezone.now()
        new = [
            HashMatch(
                file_instance_id=file_id,
                job_id=job.pk,
                hash_set_id=set_id,
                algorithm=HashEntry.Algorithm.PDQ,
                category=category,
                distance=distance,
                matched_at=now,
            )
            for (image_id, set_id), (distance, category) in sorted(found.items())
            for file_id in files.get(image_id, [])
            if (file_id, set_id) not in recorded
        ]
        if not new:
            return Counter()
        HashMatch.objects.bulk_create(new, ignore_conflicts=True)
        hash_matches_propose(job, [(m.file_instance_id, m.hash_set_id, m.category) for m in new])
        progress_changed(job.pk)
    return Counter(m.hash_set_id for m in new)


def pdq_matches_for_batch(job: Job, image_ids: list[int]) -> None:
    """The pdq stage saved the results of a batch's images: match them, if a PDQ set is there, and audit what was
    found."""
    if pdq_sets().exists():
        hash_matches_audit(job, pdq_matches_for_job(job, image_ids), reason="scan")


def pdq_matches_refresh(hash_set_id: int) -> None:
    """A set changed (hashsets.signals.hash_sets_changed): a PDQ set that is READY and enabled is matched against
    every job that ran the pdq stage, each in a transaction of its own, and audited per job. The matches of a set
    disabled or gone are removed by jobs.hashmatching.hash_matches_refresh."""
    if not pdq_sets().filter(pk=hash_set_id).exists():
        pdq_indexes_forget(keep=pdq_sets().values_list("pk", flat=True))
        return
    for job in Job.objects.select_related("case").order_by("pk").iterator():
        if job.run_config.version(STAGE):
            added = pdq_matches_for_job(job, hash_set_id=hash_set_id)
            hash_matches_audit(job, added, reason="set imported or enabled")
