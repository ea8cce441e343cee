"""Reads for the exports other tools take in: what an export covers (a job, or a whole case) and the categorised
media a VICS file carries. The CASE/UCO graph's reads are interchange.graph_selectors.

The caller has checked that whoever asks may see the case (jobs.access, cases.access): everything read here is of
that case's jobs alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from cases.models import Case
from content.models import PdqHash
from interchange.vics import Medium, MediumFile
from jobs.models import FileInstance, Job, JobImage
from review.models import Categorisation

# Images read (with their files and PDQ hashes) at a time.
BATCH = 1000


@dataclass(frozen=True)
class ExportScope:
    """What an export covers: one job of the case, or (job None) every job of it."""

    case: Case
    job: Job | None = None

    @property
    def jobs(self) -> QuerySet[Job]:
        jobs = Job.objects.filter(case_id=self.case.pk)
        return jobs.filter(pk=self.job.pk) if self.job is not None else jobs

    def image_ids(self) -> QuerySet:
        """The ids of the distinct images the scope's jobs found."""
        return JobImage.objects.filter(job__in=self.jobs).values("image_id")


def categorised_media(scope: ExportScope, *, unconfirmed: bool = False) -> Iterator[Medium]:
    """The images of the scope with a category in the case: set or confirmed and undisputed, or (`unconfirmed`)
    also those only proposed or in dispute; by image id, read BATCH at a time."""
    rows = Categorisation.objects.filter(case=scope.case, image_id__in=scope.image_ids(), category__clears=False)
    if not unconfirmed:
        rows = rows.filter(status__in=(Categorisation.Status.SET, Categorisation.Status.CONFIRMED), disputed=False)
    rows = rows.select_related("image", "category").order_by("image_id")
    batch: list[Categorisation] = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(row)
        if len(batch) >= BATCH:
            yield from _media(scope, batch)
            batch = []
    yield from _media(scope, batch)


def _media(scope: ExportScope, rows: list[Categorisation]) -> Iterator[Medium]:
    ids = [row.image_id for row in rows]
    files: dict[int, list[MediumFile]] = {}
    instances = (
        FileInstance.objects.filter(job__in=scope.jobs, image_id__in=ids)
        .order_by("job_id", "path", "id")
        .values_list("image_id", "path", "md5", "job_id", "job__exhibit", "mtime", "btime")
    )
    for image_id, path, md5, job_id, exhibit, mtime, btime in instances:
        files.setdefault(image_id, []).append(MediumFile(path, md5, exhibit or f"job {job_id}", mtime, btime))
    pdq: dict[int, str] = {}
    for image_id, digest in PdqHash.objects.filter(image_id__in=ids).order_by("id").values_list("image_id", "hash"):
        pdq[image_id] = digest  # the newest version's, where several versions hashed it
    for row in rows:
        image = row.image
        yield Medium(
            md5=image.md5, sha1=image.sha1, sha256=image.sha256, size=image.size, mime=image.mime,
            category=row.category.code, updated=row.confirmed_at or row.set_at,
            files=tuple(files.get(row.image_id, ())), pdq=pdq.get(row.image_id, ""),
        )  # fmt: skip
