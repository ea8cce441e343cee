"""Comparing a job's source, read again now, with the job's manifest (its file instances).

The source is walked and read exactly as the scan walks and reads it (evidence.walk, evidence.probe.digest_all:
read-only, never following a link, without changing an access time), and each entry is looked up in the manifest by
its path digest, a batch at a time. Only what is not verified is kept, as VerificationFile rows written a batch at a
time; the manifest's entries that the walk never met are missing. What is held in memory at once is a batch, and one
32-byte digest per entry met."""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from evidence.opening import evidence_lstat
from evidence.probe import Digest, digest_all
from evidence.walk import Kind, join_path, walk
from jobs.models import FileInstance, Job
from jobs.pipeline.scanning import stored_path, stored_time
from verification.models import VerificationFile

Outcome = VerificationFile.Outcome
VERIFIED = "verified"
# What a regular file is compared on: content by each hash the manifest holds, then its metadata. A file's change
# time and inode are not compared: a faithful copy of the evidence on other media keeps neither.
CONTENT = ("sha256", "sha1", "md5", "size")
METADATA = ("mtime", "mode")
COMPARED = [*CONTENT, *METADATA]
BATCH = 500
_MANIFEST_FIELDS = ("path_digest", "path", "path_bytes", "kind", "size", "mtime", "mode", "md5", "sha1", "sha256")


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the manifest holds about one entry."""

    path_digest: str
    path: str
    path_bytes: bytes | None
    kind: str
    size: int
    mtime: datetime | None
    mode: int | None
    md5: str
    sha1: str
    sha256: str

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Recorded:
        values = dict(zip(_MANIFEST_FIELDS, row, strict=True))
        raw = values["path_bytes"]
        return cls(**{**values, "path_bytes": bytes(raw) if raw is not None else None})


def _differences(recorded: Recorded, found: Digest) -> tuple[list[str], list[str]]:
    """(content fields that differ, metadata fields that differ)."""
    st = found.entry.stat
    now = {
        "sha256": found.sha256,
        "sha1": found.sha1,
        "md5": found.md5,
        "size": found.size if found.entry.kind is Kind.FILE else st.st_size,
        "mtime": stored_time(st.st_mtime_ns),
        "mode": st.st_mode,
    }
    content = [
        name for name in CONTENT if getattr(recorded, name) not in ("", None) and getattr(recorded, name) != now[name]
    ]
    if found.entry.kind is Kind.FILE and not recorded.sha256:
        content.append("no hash recorded by the scan")
    metadata = [name for name in METADATA if getattr(recorded, name) != now[name]]
    return content, metadata


def _row(outcome: str, path: bytes, detail: str, recorded: Recorded | None, found: Digest | None) -> dict[str, Any]:
    shown, exact = stored_path(path)
    st = found.entry.stat if found is not None else None
    actual_size = None
    if found is not None and st is not None:
        actual_size = found.size if found.entry.kind is Kind.FILE and not found.error else st.st_size
    return {
        "path": shown,
        "path_bytes": exact,
        "outcome": outcome,
        "detail": detail,
        "expected_sha256": recorded.sha256 if recorded else "",
        "actual_sha256": found.sha256 if found else "",
        "expected_size": recorded.size if recorded else None,
        "actual_size": actual_size,
        "expected_mtime": recorded.mtime if recorded else None,
        "actual_mtime": stored_time(st.st_mtime_ns) if st is not None else None,
        "expected_mode": recorded.mode if recorded else None,
        "actual_mode": st.st_mode if st is not None else None,
    }


def compare_entry(recorded: Recorded | None, found: Digest) -> tuple[str, dict[str, Any] | None]:
    """The outcome for one entry found now, and the row to keep when it is not verified."""
    path = found.entry.relpath
    if found.error:
        return Outcome.UNREADABLE, _row(Outcome.UNREADABLE, path, found.error, recorded, found)
    if recorded is None:
        return Outcome.NEW, _row(Outcome.NEW, path, "not in the job's manifest", None, found)
    if recorded.kind != str(found.entry.kind):
        detail = f"was a {recorded.kind}, now a {found.entry.kind}"
        return Outcome.CHANGED_HASH, _row(Outcome.CHANGED_HASH, path, detail, recorded, found)
    content, metadata = _differences(recorded, found)
    if content:
        return Outcome.CHANGED_HASH, _row(Outcome.CHANGED_HASH, path, ", ".join(content + metadata), recorded, found)
    if metadata:
        return Outcome.CHANGED_METADATA, _row(Outcome.CHANGED_METADATA, path, ", ".join(metadata), recorded, found)
    return VERIFIED, None


def _manifest(job: Job, digests: list[str]) -> dict[str, Recorded]:
    rows = FileInstance.objects.filter(job=job, path_digest__in=digests).values_list(*_MANIFEST_FIELDS)
    return {row[0]: Recorded.of(row) for row in rows}


def _still_a_folder(root: bytes, recorded: Recorded) -> bool:
    """A folder the scan could not list, which the walk now lists (so it never yields it): it is there."""
    if recorded.kind != Kind.DIRECTORY:
        return False
    try:
        return stat.S_ISDIR(evidence_lstat(join_path(root, _exact(recorded))).st_mode)
    except OSError:
        return False


def _exact(recorded: Recorded) -> bytes:
    return FileInstance.exact_path(recorded.path, recorded.path_bytes)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def compare_source(
    job: Job, *, threads: int, on_batch: Callable[[Counter[str], list[dict[str, Any]]], None]
) -> Counter[str]:
    """Walk the job's source and compare it with the manifest; `on_batch(counts, rows)` receives each batch's
    outcomes and the rows not verified (the caller writes them). Returns the counts of the whole run."""
    root = os.fsencode(job.source_path)
    met: set[bytes] = set()
    totals: Counter[str] = Counter()

    def report(counts: Counter[str], rows: list[dict[str, Any]]) -> None:
        totals.update(counts)
        on_batch(counts, rows)

    for chunk in _batched(digest_all(root, walk(root), threads=threads), BATCH):
        keys = [hashlib.sha256(found.entry.relpath).hexdigest() for found in chunk]
        manifest = _manifest(job, keys)
        counts: Counter[str] = Counter()
        rows = []
        for key, found in zip(keys, chunk, strict=True):
            recorded = manifest.get(key)
            if recorded is not None:
                met.add(bytes.fromhex(key))
            outcome, row = compare_entry(recorded, found)
            counts[outcome] += 1
            if row is not None:
                rows.append(row)
        report(counts, rows)
    for chunk in _batched(_unmet(job, met), BATCH):
        counts, rows = Counter(), []
        for recorded in chunk:
            if _still_a_folder(root, recorded):
                counts[VERIFIED] += 1
                continue
            counts[Outcome.MISSING] += 1
            rows.append(_missing_row(recorded))
        report(counts, rows)
    return totals


def _missing_row(recorded: Recorded) -> dict[str, Any]:
    row = _row(Outcome.MISSING, _exact(recorded), "no longer in the source", recorded, None)
    return {**row, "path": recorded.path, "path_bytes": recorded.path_bytes}


def _unmet(job: Job, met: set[bytes]) -> Iterator[Recorded]:
    """The manifest's entries the walk never met: their digests read first (all that most entries need), the rest
    of their rows a batch at a time."""
    digests = FileInstance.objects.filter(job=job).order_by("id").values_list("path_digest", flat=True)
    unmet = (digest for digest in digests.iterator(chunk_size=5000) if bytes.fromhex(digest) not in met)
    for chunk in _batched(unmet, BATCH):
        rows = FileInstance.objects.filter(job=job, path_digest__in=chunk).order_by("id").values_list(*_MANIFEST_FIELDS)
        yield from (Recorded.of(row) for row in rows)
