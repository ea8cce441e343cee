"""Gallery reads of a job's hash-set matches (jobs.hashmatching): which images a set of a kind matched, for the
filters, the tiles' badges and veils, and the side panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Exists, OuterRef

from hashsets.models import HashEntry, HashSet
from jobs.hashmatching import FLAGGING_KINDS
from jobs.models import FileInstance, HashMatch, Job

KNOWN_GOOD_CHOICES = ("hidden", "shown", "only")
ALGORITHM_NAMES = {
    HashEntry.Algorithm.MD5: "MD5",
    HashEntry.Algorithm.SHA1: "SHA-1",
    HashEntry.Algorithm.SHA256: "SHA-256",
    HashEntry.Algorithm.PDQ: "PDQ",
}


def hash_matched(job: Job, image: Any, kinds: Sequence[str]) -> Exists:
    """Whether a set of one of `kinds` matched a file of the job that is `image` (a value or an OuterRef)."""
    matches = HashMatch.objects.filter(file_instance=OuterRef("pk"), hash_set__kind__in=kinds)
    return Exists(FileInstance.objects.filter(job=job, image=image).filter(Exists(matches)))


def known_good_found(*, job: Job) -> bool:
    """Whether a known-good set matched any file of the job (the gallery then hides some images by default)."""
    return HashMatch.objects.filter(job=job, hash_set__kind=HashSet.Kind.KNOWN_GOOD).exists()


def hash_flagged_images(*, job: Job, image_ids: Sequence[int]) -> set[int]:
    """Of `image_ids`, those a flagging set (known-bad, alert, PDQ) matched a file of in the job: badged, and veiled
    for everyone."""
    matches = HashMatch.objects.filter(
        job=job, hash_set__kind__in=FLAGGING_KINDS, file_instance__image_id__in=image_ids
    )
    return set(matches.values_list("file_instance__image_id", flat=True))


def image_hash_matches(*, job: Job, image_id: int) -> list[tuple[str, str, str]]:
    """(set name, kind, how it matched) of each set that matched a file of the job that is the image, by name: the
    algorithm, and a PDQ match's distance ("PDQ, distance 12")."""
    rows = (
        HashMatch.objects.filter(job=job, file_instance__image_id=image_id)
        .order_by("hash_set__name", "algorithm", "distance")
        .values_list("hash_set__name", "hash_set__kind", "algorithm", "distance")
        .distinct()
    )
    return [
        (name, kind, ALGORITHM_NAMES[algorithm] + ("" if distance is None else f", distance {distance}"))
        for name, kind, algorithm, distance in rows
    ]
