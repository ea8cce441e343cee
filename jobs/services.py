"""Job writes: create (in a case, or in a case of its own), rerun, delete, share (membership of the job's case), give to
another owner. Starting and ending a job are status changes:
jobs.lifecycle."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_record, user_label
from cases.models import OWN_CASE_REFERENCE, Case, CaseMember, CaseSource
from cases.selectors import WORKING_ROLES, case_role, cases_for_work
from cases.services import (
    CaseManageRefused,
    case_locked,
    case_member_remove,
    case_member_set,
    case_of_its_own,
)
from content.models import Face
from jobs.config import JobConfig
from jobs.faceindex import face_index_queue
from jobs.lifecycle import StartOutcome, job_cancel, job_start
from jobs.models import Job, JobImage, StageProgress
from jobs.progress.publisher import progress_changed
from jobs.selectors import images_removed_with, source_folders, source_list
from persons.casestate import persons_changed

logger = logging.getLogger(__name__)


class SourceError(ValueError):
    """The folder named as a job's source cannot be scanned."""


def source_resolve(path: str | os.PathLike, *, within: Path | None = None) -> Path:
    """The real, absolute path of a source folder. With `within`, it must lie inside that folder once every
    symbolic link is resolved, and the SourceError names no path (its reader names sources, not server paths)."""
    shown = "" if within is not None else f": {path}"
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        raise SourceError(f"source folder not found{shown}") from exc
    if not real.is_dir():
        raise SourceError(f"not a folder{shown}")
    if within is not None:
        root = Path(os.path.realpath(within))
        if real != root and root not in real.parents:
            raise SourceError("the source leads out of the sources folder")
    return real


def source_named(
    name: str,
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    case: Case | None = None,
    folders: list[str] | None = None,
) -> Path:
    """The folder of the source called `name`: exactly one of those jobs.selectors.source_list offers `user` for a
    job in `case` (a top-level, not hidden folder of SOURCES_ROOT that stays inside it, which they may scan), the one
    rule of the web form, the API and the command line. Raises SourceError, naming no server path, for any other
    name ("", ".", "a/b", ".hidden", a path), and in the same words for a source the user may not scan: whether it
    exists is not disclosed. One they may scan, but not into `case`, is said to be so. `folders`: source_folders(),
    where the caller listed them already."""
    folders = source_folders() if folders is None else folders
    if name not in source_list(user=user, case=case, folders=folders):
        if case is not None and name in source_list(user=user, folders=folders):
            raise SourceError(f"source {name!r} is not assigned to case {case.reference}")
        raise SourceError(f"no source {name!r}: choose one of the sources listed")
    return source_resolve(settings.SOURCES_ROOT / name, within=settings.SOURCES_ROOT)


def source_case(
    name: str,
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    case: Case | None = None,
    folders: list[str] | None = None,
) -> Case | None:
    """The case a job on the source `name` goes in: `case` where one is named; else, for anyone but staff and the
    operator at the command line, the one case they lead or examine in that holds the source. A job on a case's
    evidence stays in that case: made in a case of its own, it would give its maker the rights of a lead (download,
    share) over evidence they only examine. SourceError when the source is in several of their cases (name one).
    None (a case of the job's own) for staff, for the operator, and for a source that only cases of single jobs the
    user leads hold (jobs made before cases, whose evidence they lead already). `folders`: as for source_named."""
    if case is not None or user is None or user.is_staff:
        return case
    if name not in source_list(user=user, folders=folders):
        raise SourceError(f"no source {name!r}: choose one of the sources listed")
    holding = list(cases_for_work(user=user).filter(sources__name=name).distinct()[:2])
    if len(holding) > 1:
        raise SourceError(f"source {name!r} is in several of your cases: name the case")
    if holding:
        return holding[0]
    led = CaseSource.objects.filter(name=name, case__members__user=user, case__members__role=CaseMember.Role.LEAD)
    if not led.exists():
        raise SourceError(f"no source {name!r}: choose one of the sources listed")
    return None


def job_source(
    name: str, *, user: AbstractBaseUser | AnonymousUser | None, case: Case | None = None
) -> tuple[Case | None, Path]:
    """The case a new job on the source `name` goes in (source_case) and the source's folder (source_named), from one
    listing of SOURCES_ROOT."""
    folders = source_folders()
    case = source_case(name, user=user, case=case, folders=folders)
    return case, source_named(name, user=user, case=case, folders=folders)


class CaseRefusedForJob(ValueError):
    """The job's creator may not add jobs to the case named (only its lead and examiners may)."""


def job_create(
    *,
    name: str,
    source_path: str | os.PathLike,
    owner: AbstractBaseUser | None = None,
    description: str = "",
    stages: Sequence[str] | None = None,
    within: Path | None = None,
    case: Case | None = None,
    exhibit: str = "",
) -> Job:
    """A new job on a source folder. With no case, in a case of its own ("job-<id>", the owner its lead); in `case`,
    if its owner is the case's lead or an examiner there (CaseRefusedForJob otherwise; no owner: the operator of
    the installation, at the command line). A single job's own case takes no other job (CaseRefusedForJob): only
    job_rerun adds to it."""
    config = JobConfig.from_settings(stages)  # unknown stage names fail here, before anything is stored
    source = source_resolve(source_path, within=within)
    if case is not None and OWN_CASE_REFERENCE.fullmatch(case.reference):
        raise CaseRefusedForJob(f"case {case.reference} is a single job's own: only its reruns join it")
    with transaction.atomic():
        # Under the case's lock: a member removed meanwhile waits for this job, or this job sees them gone.
        if case is not None:
            case = case_locked(case_id=case.pk)
        if case is not None and owner is not None and case_role(case_id=case.pk, user=owner) not in WORKING_ROLES:
            raise CaseRefusedForJob(f"only the lead and the examiners of case {case.reference} may add jobs to it")
        return _job_create(
            name=name or source.name, description=description, owner=owner, source=source, config=config, case=case,
            exhibit=exhibit,
        )  # fmt: skip


def _job_create(
    *, name: str, description: str, owner, source: Path, config: JobConfig, case: Case | None, exhibit: str
) -> Job:
    """The job's row (in `case`, or in a case of its own), its progress rows and its record; the caller checked who
    may add it (job_create) or that it may be scanned again (job_rerun)."""

    def make(in_case: Case) -> Job:
        return Job.objects.create(
            name=name,
            description=description,
            owner=owner,
            source_path=str(source),
            config=config.to_stored(),
            case=in_case,
            exhibit=exhibit,
        )

    with transaction.atomic():
        if case is not None:
            case_locked(case_id=case.pk)  # held by job_create already; job_rerun takes it here
        job = make(case) if case is not None else case_of_its_own(title=name, owner=owner, make=make)[1]
        StageProgress.objects.bulk_create([StageProgress(job=job, stage=stage) for stage in config.stages])
        audit_record(
            "job.create",
            job_id=job.pk,
            target=job.name,
            source=str(source),
            stages=list(config.stages),
            owner=user_label(owner) if owner else "",
            case=job.case.reference,
        )
    logger.info("job %s: created on %s with stages %s", job.pk, source, ", ".join(config.stages))
    return job


class RerunRefused(ValueError):
    """An ended job's source cannot be scanned again, or the job has not ended."""


def job_rerun(*, job: Job, within: Path | None = None) -> Job:
    """Scan an ended job's source again: a new job in the same case, with the same stages, owner and exhibit, started
    at once. Content
    the same extractor versions analysed before is linked, not analysed again; the new job takes today's settings (a
    newer model analyses everything again), and the old one keeps its record. The source is resolved again, as for a
    new job: with `within`, it must still lie inside that folder once links are resolved. RerunRefused, with the
    reason, for a job that has not ended, a source that is gone or is no longer the folder the job scanned, or a
    stage no longer installed."""
    if job.status not in Job.FINAL:
        raise RerunRefused(f"job {job.pk} is {job.status}: it can be scanned again once it has ended")
    try:
        with transaction.atomic():
            rerun = _job_create(
                name=job.name,
                description=job.description,
                source=source_resolve(job.source_path, within=within),
                owner=job.owner,
                config=JobConfig.from_settings(job.run_config.stages),
                case=job.case,
                exhibit=job.exhibit,
            )
            if rerun.source_path != job.source_path:  # a folder on its path became a link since
                # Named within `within` where there is one, like every SourceError: no server path.
                was, now = (os.path.relpath(p, os.path.realpath(within)) if within else p
                            for p in (job.source_path, rerun.source_path))  # fmt: skip
                raise SourceError(f"{was} now leads to {now}")
            Job.objects.filter(pk=rerun.pk).update(rerun_of=job)
            audit_record("job.rerun", job_id=rerun.pk, target=rerun.name, rerun_of=job.pk)
    except (SourceError, KeyError) as exc:  # KeyError: a stage no longer installed
        why = str(exc).strip("'\"")  # a KeyError's text comes in quotes
        raise RerunRefused(f"the source cannot be scanned again: {why}") from exc
    rerun.refresh_from_db()
    if job_start(job=rerun).result is StartOutcome.Result.SOURCE_MISSING:  # gone since job_create checked it
        raise RerunRefused(f"job {rerun.pk} was created, but its source folder is missing: start it once it is back")
    return rerun


def job_delete(*, job: Job) -> int:
    """Delete a job with its file instances and progress, and the images (with their results) that no other job
    references and no case records a decision about (jobs.selectors.images_removed_with). A running job is
    cancelled first: its queued work then finds nothing to do. The face indexes of the faces removed are brought
    level on the jobs queue, and the case's persons are read afresh by their next update. Returns the number of
    images removed."""
    job_cancel(job=job)
    job_id, name = job.pk, job.name
    with transaction.atomic():
        case_locked(case_id=job.case_id)  # like every writer of the case's faces and persons
        image_ids = list(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
        job.delete()
        orphans = images_removed_with(job_id=job_id, image_ids=image_ids)
        recognisers = set(
            Face.objects.filter(image__in=orphans).values_list("result__params__recogniser_sha256", flat=True)
        )
        _, removed = orphans.delete()
        for recogniser in sorted(r for r in recognisers if isinstance(r, str) and r):
            face_index_queue(recogniser)
        persons_changed(case_id=job.case_id)
        audit_record("job.delete", job_id=job_id, target=name, images_removed=removed.get("content.Image", 0))
        progress_changed(job_id)
    return removed.get("content.Image", 0)


def job_owner_set(*, job: Job, owner: AbstractBaseUser | None, why: str = "") -> bool:
    """Give the job to another owner (None: to nobody; staff still see it). In the job's own case the new owner
    becomes its lead and the previous one loses the lead they had by owning it (unless they own another job of the
    case): their open sockets check access again once this commits. In a case of the lab's, memberships stay.
    Audited as `job.owner` with `why` (default: whose it was). Returns whether the owner changed."""
    with transaction.atomic():
        before = Job.objects.select_for_update(of=("self",)).select_related("owner").get(pk=job.pk).owner
        job.owner = owner
        if getattr(before, "pk", None) == getattr(owner, "pk", None):
            return False
        Job.objects.filter(pk=job.pk).update(owner=owner)
        was = why or (f"{user_label(before)}'s" if before else "nobody's")
        now = f"{user_label(owner)}'s" if owner else "nobody's"
        audit_record("job.owner", job_id=job.pk, target=job.name, detail=f"{was}: now {now}")
        case = Case.objects.get(pk=job.case_id)
        # A single job's case (the job and its reruns) that the previous owner owned is its owner's: the new owner
        # owns and leads it, the previous one leaves it (unless they own another job of it). In a case of the lab's,
        # owning a job gives no right: memberships stay as they are.
        if OWN_CASE_REFERENCE.fullmatch(case.reference) and before is not None and case.owner_id == before.pk:
            Case.objects.filter(pk=case.pk).update(owner=owner)
            if owner is not None:
                case_member_set(case=case, user=owner, role=CaseMember.Role.LEAD)
            if before and not case.jobs.filter(owner=before).exists():
                why = f"{user_label(before)}: no longer owns job {job.pk}"
                case_member_remove(case=case, user_id=before.pk, why=why)
    logger.info("job %s: owner now user %s", job.pk, getattr(owner, "pk", None))
    return True


# The words of the job page (and the earlier shares) for roles in the job's case.
SHARE_ROLES = {"full": CaseMember.Role.EXAMINER, "reviewer": CaseMember.Role.REVIEWER}
MEMBER_SHARE_ROLES = {CaseMember.Role.EXAMINER: "full", CaseMember.Role.REVIEWER: "reviewer"}


class ShareRefused(ValueError):
    """The job page's sharing manages examiners and reviewers only: not the owner of a single job's own case, nor a
    lead (leads change in the cases admin)."""


def _share_checked(job: Job, user_id: int) -> bool:
    """Under the case's lock: whether the user is the owner of the job's own case (who has every right there and
    whom sharing leaves as they are); ShareRefused when they lead the job's case."""
    case = case_locked(case_id=job.case_id)
    if OWN_CASE_REFERENCE.fullmatch(case.reference) and user_id == job.owner_id:
        return True
    if CaseMember.objects.filter(case=case, user_id=user_id, role=CaseMember.Role.LEAD).exists():
        raise ShareRefused(f"they lead case {case.reference}: a lead is changed in the cases admin")
    return False


def job_share(*, job: Job, user: AbstractBaseUser, role: str, by: AbstractBaseUser | None = None) -> CaseMember:
    """Share the job with a user: make them a member of the job's case with the role (full: examiner, reviewer:
    reviewer), or change the role they have. ShareRefused for the owner of a single job's own case (they have
    every right on it) and for a lead of the job's case; CaseManageRefused (on the record) when `by`, who shares,
    may no longer manage the case (checked under its lock)."""
    try:
        with transaction.atomic():
            if _share_checked(job, user.pk):
                raise ShareRefused("the owner already has every right on the job")
            member = case_member_set(case=job.case, user=user, role=SHARE_ROLES[str(role)], by=by)
            audit_record("job.share", job_id=job.pk, target=user_label(user), role=str(role))
    except CaseManageRefused as exc:
        audit_record("job.share", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail=str(exc))
        raise
    logger.info("job %s: shared with user %s as %s", job.pk, user.pk, role)
    return member


def job_unshare(*, job: Job, user_id: int, by: AbstractBaseUser | None = None) -> bool:
    """Remove the user from the job's case; their open sockets on it close once this commits. Returns whether they
    were a member; the owner of a single job's own case stays its lead (False). ShareRefused for a lead of the job's
    case; CaseManageRefused (on the record) when `by` may no longer manage the case."""
    try:
        with transaction.atomic():
            if _share_checked(job, user_id):
                return False
            removed = case_member_remove(case=job.case, user_id=user_id, by=by)
            if removed:
                audit_record("job.unshare", job_id=job.pk, target=f"user {user_id}")
    except CaseManageRefused as exc:
        audit_record("job.unshare", outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk, detail=str(exc))
        raise
    return removed
