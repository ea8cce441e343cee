"""Importing hash sets into the library, and enabling, disabling and deleting them.

An import streams the file's entries into the database in batches, each committed, under a set IMPORTING (which
matching ignores); the set becomes READY, with its counts, its source's SHA-256 and version, only once the whole file
is read. Whatever stops an import (a broken file, an error, Ctrl-C) removes the set and its entries before the error
goes on: no half set is left. A process killed outright cannot clean up after itself: the next import removes every
set left IMPORTING by an import no longer running (on PostgreSQL an import holds an advisory lock on its set while
it runs; elsewhere, with one process at a time, a set IMPORTING for more than a day is taken to be left over).

Malformed lines do not stop an import: they are counted, and the first `MALFORMED_KEPT` are reported with their line
numbers (in the result, and in the import's audit record)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from database.bulk import bulk_insert
from hashformats import FORMATS, Entry, FormatError, Malformed, Reading, read
from hashsets.models import HashEntry, HashSet
from hashsets.signals import hash_sets_changed

# Entries written (and committed) at a time.
IMPORT_BATCH = 10_000
# Malformed lines reported by line number; beyond, only counted.
MALFORMED_KEPT = 1000
# Of those, the ones the audit record keeps.
MALFORMED_AUDITED = 100
# The first key of the advisory locks an import holds on PostgreSQL (the second is the set's id).
_LOCK_SPACE = 0x48534554  # "HSET"
_STALE_ELSEWHERE = timedelta(days=1)
_ALGORITHMS = {
    "md5": HashEntry.Algorithm.MD5,
    "sha1": HashEntry.Algorithm.SHA1,
    "sha256": HashEntry.Algorithm.SHA256,
    "pdq": HashEntry.Algorithm.PDQ,
}


class HashSetRefused(Exception):
    """The import cannot be made as asked (a name in use, a kind the file is not of, a file of no known format);
    the message says why, in a line."""


@dataclass(frozen=True)
class ImportReport:
    hash_set: HashSet
    malformed_lines: list[Malformed]  # the first MALFORMED_KEPT


# Called now and then while an import reads: entries so far, bytes of the file read (None where unknown).
Progress = Callable[[int, int | None], None]


def _target(hash_set: HashSet) -> str:
    return f"hash set {hash_set.pk} ({hash_set.name})"


def _changed(hash_set_id: int) -> None:
    # robust: a listener that fails is logged; it never undoes (or, for an import, removes) the change it heard of.
    transaction.on_commit(lambda: hash_sets_changed.send(sender=HashSet, hash_set_id=hash_set_id), robust=True)


def _postgresql() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def _lock(function: str, hash_set_id: int) -> bool:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [_LOCK_SPACE, hash_set_id])
        return cursor.fetchone()[0] is not False


def _left_over_remove() -> None:
    """Remove the sets left IMPORTING by imports that are no longer running."""
    importing = HashSet.objects.filter(status=HashSet.Status.IMPORTING)
    if not _postgresql():
        importing.filter(created_at__lt=timezone.now() - _STALE_ELSEWHERE).delete()
        return
    for hash_set_id in importing.values_list("pk", flat=True):
        if _lock("pg_try_advisory_lock", hash_set_id):  # its import holds the lock while it runs
            try:
                _remove(hash_set_id)
            finally:
                _lock("pg_advisory_unlock", hash_set_id)


def _remove(hash_set_id: int) -> None:
    with transaction.atomic():
        HashEntry.objects.filter(hash_set_id=hash_set_id).delete()  # one DELETE: nothing refers to an entry
        HashSet.objects.filter(pk=hash_set_id).delete()


def _refuse(message: str, name: str, **data: object) -> HashSetRefused:
    audit_record(
        "hashset.import", outcome=AuditEvent.Outcome.REFUSED, target=f"hash set ({name})", detail=message, **data
    )
    return HashSetRefused(message)


def hash_set_import(
    *,
    path: Path,
    name: str,
    kind: str,
    category: str = "",
    user: AbstractBaseUser | None = None,
    format: str | None = None,
    source_name: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Import the hash list at `path` (of `format`, default: as its content says) as the set `name`. `source_name`:
    the file's name as its owner knows it (an upload's), default the path's. Raises HashSetRefused."""
    name, source_name = name.strip(), source_name or path.name
    if "\x00" in name + category + source_name + (format or ""):  # no stored text holds one (PostgreSQL refuses it)
        raise _refuse("a name, category, file name or format holds no NUL character", name.replace("\x00", "")[:200])
    if not name or len(name) > HashSet._meta.get_field("name").max_length:
        raise _refuse("a hash set needs a name of 1 to 200 characters", name[:200])
    if kind not in HashSet.Kind.values:
        raise _refuse(f"no kind {kind!r}: one of {', '.join(HashSet.Kind.values)}", name)
    if len(category) > HashSet._meta.get_field("category").max_length:
        raise _refuse("a category code is at most 32 characters", name)
    if format is not None and format not in FORMATS:
        raise _refuse(f"no format {format!r}: one of {', '.join(FORMATS)}", name)
    _left_over_remove()
    if HashSet.objects.filter(name=name).exists():
        raise _refuse(f"a hash set named {name!r} exists: delete it first or choose another name", name)
    try:
        with read(path, format) as reading:
            if (reading.format == "pdq") != (kind == HashSet.Kind.PDQ):
                raise _refuse(
                    f"a {reading.format} file cannot be a set of kind {kind}: "
                    "PDQ lists are sets of kind pdq, and only they are",
                    name,
                )
            hash_set = _begin(
                name=name,
                kind=kind,
                category=category,
                user=user,
                fmt=reading.format,
                source_name=source_name,
            )
            try:
                return _fill(hash_set, reading, progress)
            except BaseException as error:
                _remove(hash_set.pk)
                if _postgresql():
                    _lock("pg_advisory_unlock", hash_set.pk)
                if isinstance(error, FormatError | OSError):
                    raise  # refused below
                audit_record(
                    "hashset.import",
                    outcome=AuditEvent.Outcome.FAILED,
                    target=_target(hash_set),
                    detail=repr(error)[:500],
                )
                raise
    except FormatError as error:
        raise _refuse(f"{source_name}: {error}", name) from error
    except OSError as error:
        raise _refuse(f"cannot read {source_name}: {error.strerror or error}", name) from error


def _begin(
    *, name: str, kind: str, category: str, user: AbstractBaseUser | None, fmt: str, source_name: str
) -> HashSet:
    try:
        with transaction.atomic():
            hash_set = HashSet.objects.create(
                name=name,
                kind=kind,
                category=category,
                status=HashSet.Status.IMPORTING,
                enabled=True,
                source_name=source_name[:255],
                source_format=fmt,
                imported_by=user,
            )
            if _postgresql():
                # Taken before the set is seen by anyone (a session's lock outlives the transaction): no other
                # import takes it for a left-over one.
                _lock("pg_advisory_lock", hash_set.pk)
    except IntegrityError:
        raise _refuse(f"a hash set named {name!r} exists: delete it first or choose another name", name) from None
    return hash_set


def _fill(hash_set: HashSet, reading: Reading, progress: Progress | None) -> ImportReport:
    rows: list[dict] = []
    entries = malformed = last_malformed = 0
    kept: list[Malformed] = []
    for item in reading.items:
        if isinstance(item, Malformed):
            # A line may be malformed in several ways (two bad hashes): it counts once, each is reported.
            malformed += item.line != last_malformed
            last_malformed = item.line
            if len(kept) < MALFORMED_KEPT:
                kept.append(item)
            continue
        rows.append(_row(hash_set.pk, item))
        if len(rows) >= IMPORT_BATCH:
            bulk_insert(HashEntry, rows)
            entries += len(rows)
            rows = []
            if progress:
                progress(entries, reading.position())
    bulk_insert(HashEntry, rows)
    entries += len(rows)
    _statistics()
    sha256 = reading.sha256()
    with transaction.atomic():
        hash_set.status = HashSet.Status.READY
        hash_set.entries, hash_set.malformed = entries, malformed
        hash_set.source_sha256, hash_set.version = sha256, reading.source.version
        hash_set.imported_at = timezone.now()
        hash_set.save()
        audit_record(
            "hashset.import",
            target=_target(hash_set),
            kind=hash_set.kind,
            format=hash_set.source_format,
            source_name=hash_set.source_name,
            source_sha256=sha256,
            version=hash_set.version,
            entries=entries,
            malformed=malformed,
            malformed_lines=[[m.line, m.reason] for m in kept[:MALFORMED_AUDITED]],
        )
        _changed(hash_set.pk)
    if _postgresql():
        _lock("pg_advisory_unlock", hash_set.pk)
    if progress:
        progress(entries, reading.position())
    return ImportReport(hash_set, kept)


def _statistics() -> None:
    """Fresh planner statistics for the entries, before the matching that a ready set starts reads them: right
    after a bulk load, PostgreSQL may otherwise scan every entry for each job instead of using the digest index. A
    role that does not own the table is skipped with a warning, not refused."""
    if _postgresql():
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(f"ANALYZE {HashEntry._meta.db_table}")


def _row(hash_set_id: int, entry: Entry) -> dict:
    return {
        "hash_set_id": hash_set_id,
        "algorithm": _ALGORITHMS[entry.algorithm],
        "digest": entry.digest,
        "category": entry.category,
        "quality": entry.quality,
        "extra": entry.extra,
    }


def hash_set_enable(*, hash_set: HashSet, enabled: bool) -> HashSet:
    """Enable (matched against every job) or disable the set."""
    with transaction.atomic():
        HashSet.objects.filter(pk=hash_set.pk).update(enabled=enabled)
        hash_set.enabled = enabled
        audit_record(
            "hashset.enable" if enabled else "hashset.disable",
            target=_target(hash_set),
            entries=hash_set.entries,
            source_sha256=hash_set.source_sha256,
        )
        _changed(hash_set.pk)
    return hash_set


def hash_set_delete(*, hash_set: HashSet) -> None:
    with transaction.atomic():
        audit_record(
            "hashset.delete",
            target=_target(hash_set),
            kind=hash_set.kind,
            entries=hash_set.entries,
            source_sha256=hash_set.source_sha256,
        )
        hash_set_id = hash_set.pk
        _remove(hash_set_id)
        _changed(hash_set_id)
