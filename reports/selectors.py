"""What a case report reads, section by section, for a scope: the case and the jobs the report covers (every job of
the case, or one). Images are those the scope's jobs found; nothing of another case is ever read. Large lists are
streamed (iterator()) or bounded, so that a report of a case of 50,000 images reads in bounded memory: the sections
list what an examiner files (counts in full; long lists of files up to a stated number, the export lists all)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from django.db.models import Count, Q, QuerySet

from audit.models import AuditEvent
from cases.models import ROLE_RANK, Case, Category
from cases.selectors import case_members
from content.models import ExifData, ForensicFlags, StageResult
from jobs.hashmatching import FLAGGING_KINDS
from jobs.models import FileInstance, HashMatch, Job, JobImage
from jobs.selectors import source_label
from persons.models import FaceAssignment, Person
from reports.models import Report
from review.models import Categorisation

# The most rows a list of files shows (matched images per set, images with GPS, flagged images, persons).
LISTED = 500
PERSONS_LISTED = 50
# The fields of each file instance that the source manifest holds, in this order (see manifest_lines).
MANIFEST_FIELDS = ("path", "status", "size", "mtime", "sha256", "error")


@dataclass
class Scope:
    """What a report covers: the case, and its jobs (every one, or the one job asked for: `job`)."""

    case: Case
    jobs: list[Job]
    job: Job | None = None
    job_ids: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.job_ids = [job.pk for job in self.jobs]

    def image_ids(self) -> QuerySet:
        """The images the scope's jobs found (a subquery)."""
        return JobImage.objects.filter(job_id__in=self.job_ids).values("image_id")


def scope_of(*, case: Case, job: Job | None = None) -> Scope:
    jobs = [job] if job is not None else list(Job.objects.filter(case=case).select_related("owner").order_by("id"))
    return Scope(case=case, jobs=jobs, job=job)


def exhibits(scope: Scope) -> list[dict[str, Any]]:
    return [
        {
            "id": job.pk, "name": job.name, "exhibit": job.exhibit, "source": source_label(job), "status": job.status,
            "owner": getattr(job.owner, "email", ""), "created_at": job.created_at, "finished_at": job.finished_at,
        }
        for job in scope.jobs
    ]  # fmt: skip


def people(scope: Scope) -> list[dict[str, Any]]:
    """The case's members with their roles, and how many of the scope's images each categorised (set) and
    confirmed (four eyes) as they stand now."""
    in_scope = Categorisation.objects.filter(case=scope.case, image_id__in=scope.image_ids())
    set_by = dict(in_scope.values("set_by").annotate(n=Count("id")).values_list("set_by", "n"))
    confirmed = dict(
        in_scope.filter(confirmed_by__isnull=False)
        .values("confirmed_by")
        .annotate(n=Count("id"))
        .values_list("confirmed_by", "n")
    )
    return [
        {
            "email": member.user.email, "name": member.user.get_full_name(), "role": member.get_role_display(),
            "categorised": set_by.get(member.user_id, 0), "confirmed": confirmed.get(member.user_id, 0),
        }
        for member in sorted(
            case_members(case_id=scope.case.pk), key=lambda m: (-ROLE_RANK.get(m.role, 0), m.user.email)
        )
    ]  # fmt: skip


def manifest_lines(job: Job) -> Iterator[bytes]:
    """The job's source manifest: one JSON line per file instance (MANIFEST_FIELDS; mtime ISO 8601), in path
    order then id, keys sorted, UTF-8 with non-ASCII escaped. What `manage.py report --manifest` writes; its
    SHA-256 is the one the report gives."""
    rows = FileInstance.objects.filter(job=job).order_by("path", "id").values_list(*MANIFEST_FIELDS)
    for path, status, size, mtime, sha256, error in rows.iterator(chunk_size=5000):
        record = {
            "path": path, "status": status, "size": size, "mtime": mtime.isoformat() if mtime else None,
            "sha256": sha256, "error": error,
        }  # fmt: skip
        yield json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def manifest_summary(job: Job) -> dict[str, Any]:
    digest = hashlib.sha256()
    for line in manifest_lines(job):
        digest.update(line)
    return {
        "job": job.pk, "name": job.name, "files": job.files_seen, "images": job.images,
        "distinct": job.distinct_images, "skipped": job.skipped, "errors": job.errors, "bytes": job.bytes_seen,
        "sha256": digest.hexdigest(),
    }  # fmt: skip


def hash_hits(scope: Scope) -> list[dict[str, Any]]:
    """Per hash set that matched files of the scope: its kind, how many files and images, and the matched files
    (up to LISTED), each with its image."""
    matches = HashMatch.objects.filter(job_id__in=scope.job_ids)
    sets = (
        matches.values("hash_set_id", "hash_set__name", "hash_set__kind", "hash_set__version")
        .annotate(
            files=Count("file_instance_id", distinct=True), images=Count("file_instance__image_id", distinct=True)
        )
        .order_by("hash_set__name")
    )
    found = []
    for row in sets:
        listed = (
            matches.filter(hash_set_id=row["hash_set_id"])
            .select_related("file_instance__image", "job")
            .order_by("file_instance__path", "file_instance_id")[:LISTED]
        )
        found.append({
            "name": row["hash_set__name"], "kind": row["hash_set__kind"], "version": row["hash_set__version"],
            "files": row["files"], "images": row["images"], "flagging": row["hash_set__kind"] in FLAGGING_KINDS,
            "matches": [
                {"job": m.job, "instance": m.file_instance, "image": m.file_instance.image, "category": m.category,
                 "distance": m.distance}
                for m in listed
            ],
        })  # fmt: skip
    return found


def veiled_image_ids(case: Case) -> set[int]:
    """The case's images the gallery veils (jobs.veils): those a flagging hash set (known-bad, alert, PDQ) matched
    in any job of the case, and those in a sensitive category of the case; blurred in every report of the case."""
    flagged = HashMatch.objects.filter(
        job__case=case, hash_set__kind__in=FLAGGING_KINDS, file_instance__image__isnull=False
    )
    sensitive = Categorisation.objects.filter(case=case, category__sensitive=True)
    return {
        *flagged.values_list("file_instance__image_id", flat=True).distinct(),
        *sensitive.values_list("image_id", flat=True),
    }


def category_counts(scope: Scope) -> list[tuple[Category, int]]:
    counts = dict(
        Categorisation.objects.filter(case=scope.case, image_id__in=scope.image_ids())
        .values("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    categories = Category.objects.filter(scheme_id=scope.case.scheme_id, clears=False).order_by("position", "id")
    return [(category, counts.get(category.pk, 0)) for category in categories]


def categorised(scope: Scope, category: Category) -> Iterator[Categorisation]:
    """The scope's images in `category`, by image, streamed."""
    rows = (
        Categorisation.objects.filter(case=scope.case, category=category, image_id__in=scope.image_ids())
        .select_related("image", "set_by", "confirmed_by")
        .order_by("image_id")
    )
    return rows.iterator(chunk_size=500)


def first_instances(scope: Scope, image_ids: list[int]) -> dict[int, FileInstance]:
    """For each image, the file the scope's jobs found it at first (by job, then path): where its thumbnail is
    made from and the path the report names. An ordered scan keeping each image's first row (portable: SQLite has
    no DISTINCT ON); `image_ids` is a bounded batch."""
    rows = FileInstance.objects.filter(
        job_id__in=scope.job_ids, image_id__in=image_ids, status=FileInstance.Status.IMAGE
    ).order_by("image_id", "job_id", "path", "id")
    found: dict[int, FileInstance] = {}
    for row in rows.iterator(chunk_size=1000):
        found.setdefault(row.image_id, row)
    return found


def _exif_rows(scope: Scope) -> QuerySet[ExifData]:
    """The EXIF of the scope's images with a position, at the versions the scope's jobs ran."""
    versions = {job.run_config.version("exif") for job in scope.jobs} - {""}
    return ExifData.objects.filter(
        image_id__in=scope.image_ids(), result__extractor_version__in=versions, gps_lat__isnull=False,
        gps_lon__isnull=False,
    )  # fmt: skip


def gps_count(scope: Scope) -> int:
    return _exif_rows(scope).values("image_id").distinct().count()


def gps_points(scope: Scope) -> Iterator[tuple[float, float]]:
    """Every position (lat, lon) of the scope's images, streamed."""
    return _exif_rows(scope).values_list("gps_lat", "gps_lon").iterator(chunk_size=5000)


def gps_rows(scope: Scope) -> list[dict[str, Any]]:
    """The first LISTED images with a position (by image), with their file and camera facts."""
    rows = (
        _exif_rows(scope)
        .order_by("image_id", "id")
        .values("image_id", "gps_lat", "gps_lon", "gps_alt", "datetime_original", "camera_make", "camera_model")
    )
    first: dict[int, dict[str, Any]] = {}
    for row in rows.iterator(chunk_size=1000):
        if row["image_id"] not in first:
            if len(first) == LISTED:
                break
            first[row["image_id"]] = row
    where = first_instances(scope, list(first))
    return [{**row, "instance": where.get(image_id)} for image_id, row in first.items()]


def persons(scope: Scope) -> list[dict[str, Any]]:
    """The case's named persons and its largest, with the faces of each among the scope's images, most first."""
    faces = (
        FaceAssignment.objects.filter(case=scope.case, person__isnull=False, face__image_id__in=scope.image_ids())
        .values("person_id")
        .annotate(n=Count("id"))
    )
    counts = dict(faces.values_list("person_id", "n"))
    chosen = Person.objects.filter(pk__in=counts).select_related("representative")
    ranked = sorted(chosen, key=lambda p: (not p.name, -counts[p.pk], p.pk))
    named = [p for p in ranked if p.name]
    largest = [p for p in ranked if not p.name][: max(PERSONS_LISTED - len(named), 10)]
    shown = [*named, *largest]
    # A representative face stands for its person only where its image is among the scope's.
    in_scope = set(
        JobImage.objects.filter(
            job_id__in=scope.job_ids, image_id__in=[p.representative.image_id for p in shown if p.representative]
        ).values_list("image_id", flat=True)
    )
    return [
        {
            "person": p, "faces": counts[p.pk],
            "face": p.representative if p.representative and p.representative.image_id in in_scope else None,
        }
        for p in shown
    ]  # fmt: skip


def forensic(scope: Scope) -> tuple[Counter, int, list[dict[str, Any]]]:
    """Counts per forensic flag over the scope's images (at the forensic versions of its jobs), how many images
    were flagged, and the first LISTED flagged images with their flags."""
    versions = {job.run_config.version("forensic") for job in scope.jobs} - {""}
    rows = (
        ForensicFlags.objects.filter(image_id__in=scope.image_ids(), result__extractor_version__in=versions)
        .exclude(flags=[])
        .order_by("image_id")
        .values_list("image_id", "flags")
    )
    counts: Counter = Counter()
    listed: dict[int, list[dict]] = {}
    flagged = 0
    for image_id, flags in rows.iterator(chunk_size=2000):
        flagged += 1
        counts.update({flag.get("code", "") for flag in flags})
        if len(listed) < LISTED:
            listed.setdefault(image_id, []).extend(flags)
    where = first_instances(scope, list(listed))
    return counts, flagged, [{"instance": where.get(i), "flags": flags} for i, flags in listed.items()]


def tools(scope: Scope) -> list[dict[str, Any]]:
    """What each job ran with: its JobConfig (stages, versions, parameters) and the provenance its images' stage
    results record (extractor version, model and the model files' SHA-256), with how many results each."""
    found = []
    for job in scope.jobs:
        config = job.run_config
        provenance = (
            StageResult.objects.filter(image_id__in=JobImage.objects.filter(job=job).values("image_id"))
            .filter(Q(*[Q(stage=s, extractor_version=v) for s, v in config.versions.items()], _connector=Q.OR))
            .values("stage", "extractor_version", "model_name", "model_sha256")
            .annotate(results=Count("id"))
            .order_by("stage", "extractor_version", "model_name")
            if config.versions
            else []
        )
        found.append({
            "job": job, "stages": [
                {"stage": stage, "version": config.version(stage),
                 "params": json.dumps(dict(config.params.get(stage, {})), sort_keys=True)}
                for stage in config.stages
            ],
            "provenance": list(provenance), "verify": config.verify, "max_image_pixels": config.max_image_pixels,
        })  # fmt: skip
    return found


def software() -> list[tuple[str, str]]:
    """The versions of what made the report."""
    names = ("Django", "weasyprint", "pillow", "numpy")
    return [("Python", platform.python_version()), *[(name, version(name)) for name in names]]


def audit_summary(scope: Scope) -> dict[str, Any]:
    """The audit log of the scope: counts per action and outcome, and the refusals. A job's report counts the
    events of that job; a case's, those of its jobs and those recording the case: by its id (their data's case_id)
    or by its reference since the case was made (a reference is unique among the cases there are, but a deleted
    case's may have been reused)."""
    which = Q(job_id__in=scope.job_ids)
    if scope.job is None:
        case = scope.case
        which |= Q(data__case_id=case.pk) | Q(target=case.reference, at__gte=case.created_at)
    events = AuditEvent.objects.filter(which)
    rows = events.values("action", "outcome").annotate(n=Count("id")).order_by("action", "outcome")
    actions: dict[str, dict[str, int]] = {}
    for row in rows:
        actions.setdefault(row["action"], {})[row["outcome"]] = row["n"]
    return {
        "actions": [
            {"action": action, "ok": by.get("ok", 0), "refused": by.get("refused", 0), "failed": by.get("failed", 0)}
            for action, by in actions.items()
        ],
        "events": sum(sum(by.values()) for by in actions.values()),
        "refused": sum(by.get("refused", 0) for by in actions.values()),
        "first": events.order_by("at", "id").values_list("at", flat=True).first(),
        "last": events.order_by("-at", "-id").values_list("at", flat=True).first(),
    }


def reports_of(*, case: Case, user) -> QuerySet[Report]:
    """The reports of the case the user asked for, newest first (a user sees their own reports only)."""
    return Report.objects.filter(case=case, requested_by=user).order_by("-created_at", "-id")


def report_of(*, case: Case, user, report_id: int) -> Report | None:
    if not 0 < report_id < 2**63:
        return None
    return reports_of(case=case, user=user).filter(pk=report_id).first()


def report_progress(report: Report, *, now: dt.datetime) -> dict[str, Any]:
    """What the page shows of a report's build: its status, stage, counts, and the seconds its stage still needs
    at the rate it went so far (None until that can be told)."""
    eta = None
    if report.status == Report.Status.BUILDING and report.stage_started_at and 0 < report.done < report.total:
        elapsed = (now - report.stage_started_at).total_seconds()
        eta = round(elapsed * (report.total - report.done) / report.done)
    return {
        "id": report.pk, "status": report.status, "stage": report.stage, "done": report.done, "total": report.total,
        "eta_seconds": eta, "sha256": report.sha256, "size": report.size, "error": report.error,
        "format": report.format,
    }  # fmt: skip
