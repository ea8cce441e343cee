"""Hash sets as an import leaves them (READY, with their entries), made directly, for the matching tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hashsets.models import HashEntry, HashSet

ALGORITHMS = {"md5": HashEntry.Algorithm.MD5, "sha1": HashEntry.Algorithm.SHA1, "sha256": HashEntry.Algorithm.SHA256}


def digest(path: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def hash_set(name: str, kind: str, entries: dict[Path, str], *, category: str = "", ready: bool = True) -> HashSet:
    """A set of `kind` holding, for each file, its digest by the algorithm named ("md5", "sha1", "sha256")."""
    made = HashSet.objects.create(
        name=name, kind=kind, category=category, entries=len(entries),
        status=HashSet.Status.READY if ready else HashSet.Status.IMPORTING,
    )  # fmt: skip
    HashEntry.objects.bulk_create(
        HashEntry(hash_set=made, algorithm=ALGORITHMS[algorithm], digest=digest(path, algorithm))
        for path, algorithm in entries.items()
    )
    return made
