"""Gallery reads for review: what the toolbar, the tiles, the viewer and the side panel show of the decisions the
members of a job's case made (review.selectors), in the shapes the templates and the JSON routes use.

Every function takes a job the caller has already checked access to, and images that job found."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.contrib.auth.models import AbstractBaseUser

from cases.access import case_role_of
from cases.models import Category
from cases.selectors import case_categories
from jobs.models import FileInstance, Job, JobImage
from jobs.selectors import case_image_ids
from jobs.similar import job_groups
from review.models import CategoryChange, Note
from review.selectors import Decision, category_history, decisions, image_notes, review_counters
from review.services import WRITING_ROLES


def may_write(*, job: Job, user: AbstractBaseUser) -> bool:
    """Whether the user may record decisions in the job's case (a reviewer only reads)."""
    return case_role_of(case_id=job.case_id, user=user) in WRITING_ROLES


def categories_json(*, job: Job) -> list[dict]:
    """The categories of the case's scheme as the review keys read them."""
    return list(
        case_categories(case=job.case).values("code", "label", "key", "needs_confirmation", "sensitive", "clears")
    )


def tile_decisions(*, job: Job, user: AbstractBaseUser, image_ids: Iterable[int]) -> dict[int, Decision]:
    return decisions(case=job.case, image_ids=image_ids, user=user)


def decision_json(decision: Decision | None) -> dict:
    return asdict(decision or Decision())


def counters_json(*, job: Job, user: AbstractBaseUser) -> dict:
    """Reviewed / total for the case, the user's own count, the rate (images first reviewed in the last hour) and
    each member's count."""
    counters = review_counters(case=job.case, image_ids=case_image_ids(case_id=job.case_id))
    me = _label(user)
    mine = next((m.reviewed for m in counters.members if m.label == me), 0)
    return {
        "reviewed": counters.reviewed,
        "total": counters.total,
        "mine": mine,
        "rate": counters.last_hour,
        "members": [asdict(m) for m in counters.members],
    }


def _label(user: AbstractBaseUser) -> str:
    """How review.selectors names a member in decisions and counters."""
    return getattr(user, "email", "") or user.get_username()


@dataclass(frozen=True)
class ReviewGroup:
    """The images a category goes to, and what they cover in the case: found at `paths` paths by `jobs` jobs of it.
    Exact duplicates are one image (decisions are held per content), so one image covers every path of its
    content; the viewer's group (`review_group`) is the image's near-duplicate group in the job (jobs.similar)."""

    images: list[int]
    paths: int
    jobs: int


def _covered(job: Job, images: list[int]) -> ReviewGroup:
    in_case = FileInstance.objects.filter(
        job__case_id=job.case_id, image_id__in=images, status=FileInstance.Status.IMAGE
    )
    jobs = JobImage.objects.filter(job__case_id=job.case_id, image_id__in=images).values("job_id").distinct()
    return ReviewGroup(images=images, paths=in_case.count(), jobs=jobs.count())


def review_group(*, job: Job, image_id: int) -> ReviewGroup:
    """The image's near-duplicate group (the viewer's `g`)."""
    return _covered(job, job_groups(job=job).members(image_id))


@dataclass(frozen=True)
class PanelReview:
    """What the side panel shows of one image's review."""

    decision: Decision
    history: list[CategoryChange]
    notes: list[Note]
    categories: list[Category]
    may_write: bool
    may_confirm: bool
    group: ReviewGroup


def panel_review(*, job: Job, user: AbstractBaseUser, image_id: int) -> PanelReview:
    decision = tile_decisions(job=job, user=user, image_ids=[image_id]).get(image_id) or Decision()
    writer = may_write(job=job, user=user)
    return PanelReview(
        decision=decision,
        history=list(category_history(case=job.case, image_id=image_id)),
        notes=list(image_notes(case=job.case, image_id=image_id)),
        categories=list(case_categories(case=job.case)),
        may_write=writer,
        may_confirm=writer and decision.status == "proposed" and decision.set_by != _label(user),
        group=_covered(job, [image_id]),  # the panel's buttons categorise the image: its content, every path
    )
