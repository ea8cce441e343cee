"""Matching file instances against the hash-set library (hashsets): every file of a job, image or not, by its MD5,
SHA-1 and SHA-256 as the scan recorded them, so matching never reads the evidence.

Matching is set-based: one INSERT ... SELECT per call, a join of the job's file instances with the entries of the
READY, enabled sets on equal digest and algorithm, which skips the matches already recorded. It runs while the scan
runs (on each committed batch, jobs.pipeline.scanning, and once over the whole job when discovery ends, for batches
committed while this process still believed no set was there) and again over every job when a set changes
(`hash_matches_refresh`, run on the jobs queue when `hash_sets_changed` is sent: jobs.pipeline.tasks). PDQ sets
are matched by distance in jobs.pdqmatching; their matches are removed here like any set's.

A known-bad, alert or PDQ match proposes the set's (or the entry's) category in the job's case for the image
(review.services.category_propose_by_hash_set), and every new match reaches the pages following the job."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.services import audit_record
from hashsets.models import HashEntry, HashSet
from jobs.models import FileInstance, HashMatch, Job
from jobs.progress.publisher import progress_changed
from review.services import category_propose_by_hash_set

# The file instance column each algorithm is compared with.
MATCHED_COLUMNS = {
    HashEntry.Algorithm.MD5: "md5", HashEntry.Algorithm.SHA1: "sha1", HashEntry.Algorithm.SHA256: "sha256",
}  # fmt: skip
# Kinds whose matches are findings: proposed in the case, veiled and marked in the gallery. A PDQ set lists known
# images (jobs.pdqmatching): its matches are findings too.
FLAGGING_KINDS = (HashSet.Kind.KNOWN_BAD, HashSet.Kind.ALERT, HashSet.Kind.PDQ)
# How long a process trusts its answer to "is any set ready to match?" (`hash_sets_active`).
ACTIVE_SETS_SECONDS = 10.0

_active: tuple[float, bool] | None = None


def matchable_sets() -> QuerySet[HashSet]:
    """The sets that file instances are matched against by equal digest."""
    return HashSet.objects.filter(status=HashSet.Status.READY, enabled=True).exclude(kind=HashSet.Kind.PDQ)


def hash_sets_active() -> bool:
    """Whether any set is ready to match, as this process saw it at most ACTIVE_SETS_SECONDS ago: a scan asks once
    per batch, and a lab with no sets pays a clock read. A batch committed while the answer is stale is matched
    when its job's discovery ends, or by the refresh the set's change sends."""
    global _active
    now = time.monotonic()
    if _active is None or now - _active[0] >= ACTIVE_SETS_SECONDS:
        _active = (now, matchable_sets().exists())
    return _active[1]


def hash_sets_forget() -> None:
    """A set changed: the next `hash_sets_active` asks the database again."""
    global _active
    _active = None


def _insert_sql(files: QuerySet[FileInstance], hash_set_id: int | None) -> tuple[str, list]:
    """INSERT ... SELECT of the matches of `files` (against one set, or every matchable one), skipping those already
    recorded, RETURNING (file instance, set, category) of each new one. Where several algorithms match a file in a
    set, the strongest is kept."""
    quote = connection.ops.quote_name
    sets = matchable_sets().filter(pk=hash_set_id) if hash_set_id else matchable_sets()
    sets_sql, sets_params = sets.order_by().values("id", "category").query.sql_with_params()
    parts, params = [], []
    for algorithm, column in MATCHED_COLUMNS.items():
        files_sql, files_params = files.exclude(**{column: ""}).values("id", "job_id", column).query.sql_with_params()
        parts.append(
            f"SELECT fi.id AS file_instance_id, fi.job_id AS job_id, e.hash_set_id AS hash_set_id, "  # noqa: S608
            f"e.algorithm AS algorithm, CASE WHEN e.category <> '' THEN e.category ELSE s.category END AS category "
            f"FROM ({files_sql}) fi "
            f"JOIN {quote(HashEntry._meta.db_table)} e ON e.digest = fi.{quote(column)} AND e.algorithm = %s "
            f"JOIN ({sets_sql}) s ON s.id = e.hash_set_id"
        )
        params += [*files_params, int(algorithm), *sets_params]
    sql = (
        f"INSERT INTO {quote(HashMatch._meta.db_table)} "  # noqa: S608
        "(file_instance_id, job_id, hash_set_id, algorithm, category, matched_at) "
        "SELECT file_instance_id, job_id, hash_set_id, MAX(algorithm), MAX(category), %s "
        f"FROM ({' UNION ALL '.join(parts)}) found WHERE true "
        "GROUP BY file_instance_id, job_id, hash_set_id "
        "ON CONFLICT (file_instance_id, hash_set_id) DO NOTHING "
        "RETURNING file_instance_id, hash_set_id, category"
    )
    return sql, [connection.ops.adapt_datetimefield_value(timezone.now()), *params]


def hash_matches_for_job(
    job: Job, instance_ids: Iterable[int] | QuerySet | None = None, *, hash_set_id: int | None = None
) -> Counter[int]:
    """Match the job's file instances (those of `instance_ids`, or all of them) against the matchable sets (or the
    one set `hash_set_id`), recording each new match; propose the category of each new known-bad or alert match in
    the job's case, and tell the pages following the job. Reads the database only. Returns the new matches by
    set id."""
    files = FileInstance.objects.filter(job_id=job.pk)
    if instance_ids is not None:
        files = files.filter(pk__in=instance_ids)
    sql, params = _insert_sql(files, hash_set_id)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
        if found:
            hash_matches_propose(job, found)
            progress_changed(job.pk)
    return Counter(set_id for _, set_id, _ in found)


def hash_matches_propose(job: Job, found: list[tuple[int, int, str]]) -> None:
    """Propose the category of each new match of a flagging set (FLAGGING_KINDS) with one (`found`: file instance,
    set id, category), for the image the file is, in the job's case: by set and category, the first set (by name)
    first."""
    sets = HashSet.objects.filter(pk__in={s for _, s, _ in found}, kind__in=FLAGGING_KINDS)
    flagging = dict(sets.values_list("pk", "name"))
    wanted = [(f, s, c) for f, s, c in found if s in flagging and c]
    if not wanted:
        return
    images = dict(
        FileInstance.objects.filter(pk__in=[f for f, _, _ in wanted], image__isnull=False).values_list("pk", "image_id")
    )
    by_set: dict[tuple[str, str], set[int]] = defaultdict(set)
    for file_id, set_id, category in wanted:
        if file_id in images:
            by_set[(flagging[set_id], category)].add(images[file_id])
    for (name, code), image_ids in sorted(by_set.items()):
        category_propose_by_hash_set(case=job.case, set_name=name, code=code, image_ids=image_ids)


def hash_matches_audit(job: Job, counts: Mapping[int, int], *, reason: str) -> None:
    """Record a job's matches (`counts`: files by set id) as one `hashset.match`, counted by set, not by file."""
    counts = {set_id: n for set_id, n in counts.items() if n}
    if not counts:
        return
    rows = HashSet.objects.filter(pk__in=counts).values_list("pk", "name", "kind")
    sets = {pk: (name, kind) for pk, name, kind in rows}
    ordered = sorted((sets.get(s, (f"set {s}", "removed")), n) for s, n in counts.items())
    audit_record(
        "hashset.match", job_id=job.pk, target=job.case.reference,
        detail=f"{reason}: " + "; ".join(f"{name} ({kind}): {n} files" for (name, kind), n in ordered),
        sets={name: n for (name, _), n in ordered},
    )  # fmt: skip


def hash_matches_discovery_end(job: Job) -> None:
    """When the job's discovery ends: match what the batches did not (sets that became ready meanwhile), and record
    the job's matches by set."""
    if not matchable_sets().exists():  # asked afresh: this is what catches a batch matched on a stale answer
        return
    hash_matches_for_job(job)
    by_set = HashMatch.objects.filter(job_id=job.pk).values("hash_set_id").annotate(n=Count("id"))
    counts = dict(by_set.values_list("hash_set_id", "n"))
    hash_matches_audit(job, counts, reason="scan")


def hash_matches_refresh(hash_set_id: int) -> None:
    """A set changed (hashsets.signals.hash_sets_changed): a set that is READY and enabled is matched against every
    job, each in a transaction of its own; the matches of a set that is disabled, importing again or gone are
    removed. Either way, the jobs whose matches changed are told, and the change is audited per job. A PDQ set that is
    READY and enabled is left to jobs.pdqmatching.pdq_matches_refresh."""
    hash_sets_forget()
    if matchable_sets().filter(pk=hash_set_id).exists():
        for job in Job.objects.select_related("case").order_by("pk").iterator():
            added = hash_matches_for_job(job, hash_set_id=hash_set_id)
            hash_matches_audit(job, added, reason="set imported or enabled")
        return
    pdq_ready = HashSet.objects.filter(pk=hash_set_id, kind=HashSet.Kind.PDQ, status=HashSet.Status.READY, enabled=True)
    if pdq_ready.exists():
        return
    name = HashSet.objects.filter(pk=hash_set_id).values_list("name", flat=True).first() or f"set {hash_set_id}"
    with transaction.atomic():
        matches = HashMatch.objects.filter(hash_set_id=hash_set_id)
        by_job = dict(matches.values("job_id").annotate(n=Count("id")).values_list("job_id", "n"))
        matches.delete()
        for job_id, n in sorted(by_job.items()):
            audit_record(
                "hashset.unmatch", job_id=job_id, target=f"hash set {name}",
                detail=f"the set was disabled or removed: {n} matches removed", removed=n,
            )  # fmt: skip
            progress_changed(job_id)
