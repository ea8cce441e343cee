"""Job reads: the sources a job can scan and who may scan them, its progress, its export records. Who may see a job
is jobs.access."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet

from cases.models import Case, CaseSource
from cases.selectors import WORKING_ROLES
from content.models import ExifData, Face, Image, PdqHash
from content.selectors import image_forensic_flags, image_ml_summaries
from extractors.forensic import DEFAULTS, taken_after_modified
from hashsets.models import HashSet
from jobs.models import FileInstance, HashMatch, Job, JobImage
from jobs.similar import STAGE, JobGroups, job_groups
from persons.selectors import persons_by_image
from review.models import ReviewMark
from review.selectors import image_reviews, recorded_about


def source_folders() -> list[str]:
    """The folders a job can be created on, whoever creates it: the top-level folders of SOURCES_ROOT that stay
    inside it once links are resolved (a link pointing out of the root is not a source)."""
    root = Path(os.path.realpath(settings.SOURCES_ROOT))
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    names = []
    for entry in entries:
        real = Path(os.path.realpath(entry.path))
        if not entry.name.startswith(".") and real.is_dir() and root in real.parents:
            names.append(entry.name)
    return names


def source_list(
    *, user: AbstractBaseUser | AnonymousUser | None, case: Case | None = None, folders: list[str] | None = None
) -> list[str]:
    """The sources `user` may scan (into `case`, where one is named): the one rule of who may start a job on what,
    which the web form, the API and the command line ask. Staff may scan every source folder, into any case they
    choose; anyone else only the sources staff assigned to the cases they lead or examine in: for a job in `case`,
    those assigned to it; for a job in a case of its own (no case), those of any of their cases. A reviewer is
    offered none. None: the operator at the command line, who may scan any folder. `folders`: source_folders(),
    where the caller listed them already."""
    folders = source_folders() if folders is None else folders
    if user is None:
        return folders
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_staff:
        return folders
    assigned = CaseSource.objects.filter(case__members__user=user, case__members__role__in=WORKING_ROLES)
    if case is not None:
        assigned = assigned.filter(case=case)
    names = set(assigned.values_list("name", flat=True))
    return [name for name in folders if name in names]


def sources_held(path: str | os.PathLike) -> list[str]:
    """The sources the folder `path` lies in or holds, once links are resolved: the one it lies in, when inside
    SOURCES_ROOT; every one, when it is SOURCES_ROOT or a folder above it; none, when it lies anywhere else."""
    root = os.path.realpath(settings.SOURCES_ROOT)
    real = os.path.realpath(path)
    if real.startswith(root + os.sep):
        return [os.path.relpath(real, root).split(os.sep)[0]]
    if real == root or root.startswith(real.rstrip(os.sep) + os.sep):
        return source_folders()
    return []


def source_label(job: Job) -> str:
    """The job's source as the examiner chose it: relative to SOURCES_ROOT when inside it."""
    root = os.path.realpath(settings.SOURCES_ROOT)
    path = job.source_path
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


EXPORT_FIELDS = [
    "path", "status", "error", "note", "size", "mtime", "md5", "sha1", "sha256", "mime", "format", "width", "height",
    "orientation", "gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original", "faces", "tags", "ctime",
    "btime", "case", "category", "category_by", "bookmarks", "notes", "category_status", "hashset_matches", "pdq",
    "pdq_quality", "near_duplicates", "flags", "persons",
]  # fmt: skip


def forensic_clock_tolerance(job: Job) -> dt.timedelta:
    """How far a time taken may be after a file's modification time before it is flagged, as the job froze it."""
    frozen = job.run_config.params.get("forensic", {}).get("clock_tolerance_minutes")
    return dt.timedelta(minutes=float(frozen or DEFAULTS["clock_tolerance_minutes"]))


def file_forensic_flags(*, taken: str, instance: FileInstance, tolerance: dt.timedelta) -> list[dict[str, Any]]:
    """The forensic flags of one file (extractors.forensic: `taken-after-modified`) of an image whose
    DateTimeOriginal the forensic stage read as `taken`."""
    if not taken or instance.mtime is None:
        return []
    found = taken_after_modified(taken, instance.mtime, tolerance)
    return [found] if found else []


def file_instances_for_export(*, job: Job) -> Iterator[dict[str, Any]]:
    """One record per file instance, in path order, with the image facts and EXIF summary (the CLI contract)."""
    exif_fields = ("gps_lat", "gps_lon", "camera_make", "camera_model", "datetime_original")
    versions = job.run_config.versions
    case = Case.objects.filter(pk=job.case_id).values_list("reference", flat=True).first()
    exif = ExifData.objects.filter(result__extractor_version=job.run_config.version("exif"))
    pdq = PdqHash.objects.filter(result__extractor_version=job.run_config.version(STAGE))
    groups = job_groups(job=job)
    rows: QuerySet = FileInstance.objects.filter(job=job).select_related("image").order_by("path", "id")
    batch: list[FileInstance] = []
    tolerance = forensic_clock_tolerance(job)

    def emit(instances: list[FileInstance]) -> Iterator[dict[str, Any]]:
        found = {
            row["image_id"]: row
            for row in exif.filter(image_id__in=[i.image_id for i in instances if i.image_id]).values(
                "image_id", *exif_fields
            )
        }
        ml = image_ml_summaries(image_ids={i.image_id for i in instances if i.image_id}, versions=versions)
        reviews = image_reviews(case_id=job.case_id, image_ids={i.image_id for i in instances if i.image_id})
        flagged = image_forensic_flags(
            image_ids={i.image_id for i in instances if i.image_id}, version=versions.get("forensic", "")
        )
        sets = hash_matches_by_file(file_ids=[i.pk for i in instances])
        hashes = {
            image_id: (digest, quality)
            for image_id, digest, quality in pdq.filter(
                image_id__in=[i.image_id for i in instances if i.image_id]
            ).values_list("image_id", "hash", "quality")
        }
        seen = persons_by_image(case_id=job.case_id, image_ids=[i.image_id for i in instances if i.image_id])
        for instance in instances:
            image = instance.image
            facts = found.get(instance.image_id, {})
            yield {
                "path": instance.path,
                "status": instance.status,
                "error": instance.error,
                "note": instance.note,
                "size": instance.size,
                "mtime": instance.mtime.isoformat() if instance.mtime else None,
                "md5": instance.md5,
                "sha1": instance.sha1,
                "sha256": instance.sha256,
                "mime": instance.mime,
                "format": image.format if image else "",
                "width": image.width if image else None,
                "height": image.height if image else None,
                "orientation": image.orientation if image else None,
                **{name: facts.get(name) for name in exif_fields},
                **ml.get(instance.image_id, {"faces": None, "tags": None}),
                "ctime": instance.ctime.isoformat() if instance.ctime else None,
                "btime": instance.btime.isoformat() if instance.btime else None,
                "case": case,
                **_review_fields(reviews.get(instance.image_id)),
                "hashset_matches": "; ".join(sets.get(instance.pk, [])),
                **_pdq_fields(hashes.get(instance.image_id), groups, instance.image_id),
                "flags": _flag_codes(flagged.get(instance.image_id), instance, tolerance),
                "persons": "; ".join(seen.get(instance.image_id, [])),
            }

    for instance in rows.iterator(chunk_size=2000):
        batch.append(instance)
        if len(batch) >= 2000:
            yield from emit(batch)
            batch = []
    yield from emit(batch)


def _flag_codes(found: tuple[list[dict], str] | None, instance: FileInstance, tolerance: dt.timedelta) -> str | None:
    """The export's `flags` of a file: its content's forensic flags and its own, codes joined; None when the
    forensic stage has no result for its content."""
    if found is None:
        return None
    flags, taken = found
    flags = [*flags, *file_forensic_flags(taken=taken, instance=instance, tolerance=tolerance)]
    return "; ".join(flag["code"] for flag in flags)


def _pdq_fields(found: tuple[str, int] | None, groups: JobGroups, image_id: int | None) -> dict[str, Any]:
    """The export's PDQ fields: the hash and its quality (None: not hashed) and `near_duplicates`, how many other
    images of the job lie within the job's PDQ distance of it (directly; None: not hashed)."""
    if found is None:
        return {"pdq": None, "pdq_quality": None, "near_duplicates": None}
    return {"pdq": found[0], "pdq_quality": found[1], "near_duplicates": len(groups.neighbours.get(image_id, ()))}


def _review_fields(review) -> dict[str, Any]:
    """The export's review fields of an image (review.selectors.ImageReview; None: nothing recorded)."""
    if review is None:
        return {"category": "", "category_by": "", "bookmarks": "", "notes": [], "category_status": ""}
    by = review.set_by + (f" (confirmed by {review.confirmed_by})" if review.confirmed_by else "")
    status = review.status + (", disputed" if review.disputed else "")
    return {
        "category": review.category,
        "category_by": by,
        "bookmarks": "; ".join(review.bookmarked_by),
        "notes": [{"by": n.by, "at": n.at.isoformat(), "text": n.text} for n in review.notes],
        "category_status": status,
    }


def case_image_ids(*, case_id: int) -> QuerySet:
    """The ids of the distinct images the jobs of the case found: what review decisions may be made about (review
    services and selectors take images the caller checked against this)."""
    return JobImage.objects.filter(job__case_id=case_id).values("image_id").distinct()


def case_faces(*, case_id: int) -> QuerySet[Face]:
    """The faces found in the images of the case's jobs: what the case's persons are made of."""
    return Face.objects.filter(image_id__in=JobImage.objects.filter(job__case_id=case_id).values("image_id"))


def images_removed_with(*, job_id: int, image_ids: Iterable[int] | None = None) -> QuerySet[Image]:
    """The images that go when the job goes (of `image_ids`, those it found, once it is gone): those no file of
    another job holds and no case records a decision about (review.selectors.recorded_about)."""
    ids = JobImage.objects.filter(job_id=job_id).values("image_id") if image_ids is None else image_ids
    elsewhere = FileInstance.objects.filter(image=OuterRef("pk")).exclude(job_id=job_id)
    return Image.objects.filter(pk__in=ids).exclude(Exists(elsewhere)).exclude(recorded_about())


def case_jobs(*, case_id: int) -> QuerySet[Job]:
    """The jobs of the case, oldest first."""
    return Job.objects.filter(case_id=case_id).select_related("owner").order_by("id")


@dataclass(frozen=True)
class CaseTotals:
    """A case's jobs, the distinct images they found, and how many of those a member reviewed."""

    jobs: int = 0
    images: int = 0
    reviewed: int = 0


def case_totals(*, case_ids: Iterable[int]) -> dict[int, CaseTotals]:
    """The totals of each case, in three queries whatever their number (for a list of cases)."""
    ids = list(case_ids)
    jobs = dict(
        Job.objects.filter(case_id__in=ids).values("case_id").annotate(n=Count("id")).values_list("case_id", "n")
    )
    images = dict(
        JobImage.objects.filter(job__case_id__in=ids)
        .values("job__case_id")
        .annotate(n=Count("image_id", distinct=True))
        .values_list("job__case_id", "n")
    )
    found = JobImage.objects.filter(job__case_id=OuterRef("case_id"), image_id=OuterRef("image_id"))
    reviewed = dict(
        ReviewMark.objects.filter(Exists(found), case_id__in=ids)
        .values("case_id")
        .annotate(n=Count("image_id", distinct=True))
        .values_list("case_id", "n")
    )
    return {
        case_id: CaseTotals(jobs=jobs.get(case_id, 0), images=images.get(case_id, 0), reviewed=reviewed.get(case_id, 0))
        for case_id in ids
    }


def case_image_jobs(*, case_id: int, image_ids: Iterable[int]) -> dict[int, int]:
    """For each image, a job of the case that found it (the first): where the case's pages link to show it."""
    rows = JobImage.objects.filter(job__case_id=case_id, image_id__in=list(image_ids))
    return dict(rows.values("image_id").annotate(job=Min("job_id")).values_list("image_id", "job"))


SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def case_images_by_sha256(*, case_id: int, sha256s: Iterable[str]) -> dict[str, int]:
    """SHA-256 (lower-case hex) -> image id, for those of `sha256s` (hex, either case) that are images the case's
    jobs found: a SHA-256 left out is no image of the case, whether or not another case holds it. ValueError for a
    text that is not a SHA-256."""
    wanted = {digest.strip().lower() for digest in sha256s}
    for digest in wanted:
        if not SHA256_HEX.fullmatch(digest):
            raise ValueError(f"not a SHA-256 (64 hexadecimal digits): {digest[:80]!r}")
    rows = JobImage.objects.filter(job__case_id=case_id, image__sha256__in=wanted)
    return dict(rows.values_list("image__sha256", "image_id").distinct())


def case_images_by_id(*, case_id: int, image_ids: Iterable[int]) -> dict[int, str]:
    """Image id -> SHA-256, for those of `image_ids` that are images the case's jobs found."""
    rows = JobImage.objects.filter(job__case_id=case_id, image_id__in=set(image_ids))
    return dict(rows.values_list("image_id", "image__sha256").distinct())


def case_images_page(*, case_id: int, after: int = 0, limit: int, where: Q | None = None) -> list[tuple[int, str]]:
    """(image id, SHA-256) of the case's images by image id, `limit` of them after `after`; `where`: a condition
    on rows with an `image` field (review.selectors.review_filter, review_decided)."""
    rows = JobImage.objects.filter(job__case_id=case_id, image_id__gt=after)
    if where is not None:
        rows = rows.filter(where)
    return list(rows.values_list("image_id", "image__sha256").distinct().order_by("image_id")[:limit])


# The kinds of set whose matches the job and case pages count, in the order they show them.
HASH_MATCH_KINDS = (HashSet.Kind.KNOWN_BAD, HashSet.Kind.ALERT, HashSet.Kind.PDQ, HashSet.Kind.KNOWN_GOOD)


def hash_match_counts(*, jobs: QuerySet[Job]) -> dict[str, int]:
    """How many files of the jobs a set of each kind matched (a file two sets of a kind matched counts once), by kind
    with "_" for "-" (known_bad, alert, pdq, known_good: names a template and a script can read)."""
    rows = (
        HashMatch.objects.filter(job__in=jobs)
        .values("hash_set__kind")
        .annotate(n=Count("file_instance_id", distinct=True))
        .values_list("hash_set__kind", "n")
    )
    found = dict(rows)
    return {kind.replace("-", "_"): found.get(kind, 0) for kind in HASH_MATCH_KINDS}


def hash_matches_by_file(*, file_ids: Iterable[int]) -> dict[int, list[str]]:
    """The sets that matched each file, by name, as the export writes them: "name (kind)", and a PDQ set's distance
    ("name (pdq, distance 12)")."""
    found: dict[int, list[str]] = {}
    rows = HashMatch.objects.filter(file_instance_id__in=list(file_ids)).order_by("file_instance_id", "hash_set__name")
    fields = ("file_instance_id", "hash_set__name", "hash_set__kind", "distance")
    for file_id, name, kind, distance in rows.values_list(*fields):
        found.setdefault(file_id, []).append(
            f"{name} ({kind})" if distance is None else f"{name} ({kind}, distance {distance})"
        )
    return found
