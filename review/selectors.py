"""Review reads: the decisions about images of a case, an image's history and notes, the
counters, the disputes and proposals waiting, and the filters the gallery narrows by.

The caller has checked that the user may see the case (jobs.access) and names images the case's jobs found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from cases.models import Case, Category
from review.models import Bookmark, Categorisation, CategoryChange, Note, ReviewMark, ViewerSetting

# The window the review rate is measured over.
RATE_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Decision:
    """What the case records about one image."""

    code: str = ""
    label: str = ""
    status: str = ""
    disputed: bool = False
    sensitive: bool = False
    set_by: str = ""
    confirmed_by: str = ""
    bookmarked: bool = False  # by the user asking
    bookmarks: int = 0
    notes: int = 0
    reviewed: bool = False  # by anyone


# How the history names a hash set that proposed a category (review.services.category_propose_by_hash_set): a
# proposal no member made.
HASH_SET_PROPOSER = "hash set "


def _proposers(case_id: int, rows: Iterable[Categorisation]) -> dict[int, str]:
    """Image id -> the hash set ("hash set <name>") that proposed the category of each row no member set."""
    unnamed = [row.image_id for row in rows if row.set_by_id is None]
    if not unnamed:
        return {}
    changes = CategoryChange.objects.filter(
        case_id=case_id, image_id__in=unnamed, user__isnull=True, user_label__startswith=HASH_SET_PROPOSER
    )
    return dict(changes.order_by("id").values_list("image_id", "user_label"))


def decisions(*, case: Case, image_ids: Iterable[int], user: AbstractBaseUser) -> dict[int, Decision]:
    """The decisions about the images (those with none are left out), in four queries whatever their number."""
    ids = list(image_ids)
    found: dict[int, dict] = {}
    rows = list(
        Categorisation.objects.filter(case=case, image_id__in=ids).select_related("category", "set_by", "confirmed_by")
    )
    proposers = _proposers(case.pk, rows)
    for row in rows:
        found[row.image_id] = {
            "code": row.category.code, "label": row.category.label, "status": row.status, "disputed": row.disputed,
            "sensitive": row.category.sensitive, "set_by": _name(row.set_by) or proposers.get(row.image_id, ""),
            "confirmed_by": _name(row.confirmed_by),
        }  # fmt: skip
    marks = Bookmark.objects.filter(case=case, image_id__in=ids).values("image_id")
    for row in marks.annotate(n=Count("id"), mine=Count("id", filter=Q(user=user))):
        found.setdefault(row["image_id"], {}).update(bookmarks=row["n"], bookmarked=row["mine"] > 0)
    for row in Note.objects.filter(case=case, image_id__in=ids).values("image_id").annotate(n=Count("id")):
        found.setdefault(row["image_id"], {})["notes"] = row["n"]
    for image_id in (
        ReviewMark.objects.filter(case=case, image_id__in=ids).values_list("image_id", flat=True).distinct()
    ):
        found.setdefault(image_id, {})["reviewed"] = True
    return {image_id: Decision(**values) for image_id, values in found.items()}


@dataclass(frozen=True)
class NoteText:
    by: str
    at: dt.datetime
    text: str


@dataclass(frozen=True)
class ImageReview:
    """What the case records about one image, written out in full (the export, the command line): who bookmarked
    it and every note, oldest first."""

    category: str = ""
    status: str = ""
    disputed: bool = False
    set_by: str = ""
    confirmed_by: str = ""
    bookmarked_by: tuple[str, ...] = ()
    notes: tuple[NoteText, ...] = ()


def image_reviews(*, case_id: int, image_ids: Iterable[int]) -> dict[int, ImageReview]:
    """The reviews of the images (those with nothing recorded are left out), in three queries whatever their
    number."""
    ids = list(image_ids)
    found: dict[int, dict] = {}
    rows = list(
        Categorisation.objects.filter(case_id=case_id, image_id__in=ids).select_related(
            "category", "set_by", "confirmed_by"
        )
    )
    proposers = _proposers(case_id, rows)
    for row in rows:
        found[row.image_id] = {
            "category": row.category.code, "status": row.status, "disputed": row.disputed,
            "set_by": _name(row.set_by) or proposers.get(row.image_id, DELETED),
            "confirmed_by": _name(row.confirmed_by),
        }  # fmt: skip
        if row.confirmed_at and row.confirmed_by is None:
            found[row.image_id]["confirmed_by"] = DELETED
    marks = Bookmark.objects.filter(case_id=case_id, image_id__in=ids).select_related("user").order_by("id")
    for mark in marks:
        entry = found.setdefault(mark.image_id, {})
        entry["bookmarked_by"] = (*entry.get("bookmarked_by", ()), _name(mark.user))
    for note in Note.objects.filter(case_id=case_id, image_id__in=ids).order_by("id"):
        entry = found.setdefault(note.image_id, {})
        entry["notes"] = (*entry.get("notes", ()), NoteText(by=note.author_label, at=note.created_at, text=note.text))
    return {image_id: ImageReview(**values) for image_id, values in found.items()}


def review_decided(*, case: Case) -> Q:
    """A condition on rows with an `image` field: images of the case with a category, a bookmark or a note."""
    ref = OuterRef("image")
    return (
        Exists(Categorisation.objects.filter(case=case, image=ref))
        | Exists(Bookmark.objects.filter(case=case, image=ref))
        | Exists(Note.objects.filter(case=case, image=ref))
    )


# How a member whose account is gone is named.
DELETED = "(account deleted)"


def _name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return ""
    return getattr(user, "email", "") or user.get_username()


def category_history(*, case: Case, image_id: int) -> QuerySet[CategoryChange]:
    """Every change of the image's category in the case, oldest first."""
    return CategoryChange.objects.filter(case=case, image_id=image_id).select_related("before", "after").order_by("id")


def image_notes(*, case: Case, image_id: int) -> QuerySet[Note]:
    return Note.objects.filter(case=case, image_id=image_id).order_by("id")


@dataclass(frozen=True)
class MemberCount:
    label: str
    reviewed: int
    last_hour: int


@dataclass(frozen=True)
class Counters:
    """Reviewed / total for the case, per member, and the rate (images first reviewed per hour, over the last
    hour)."""

    reviewed: int
    total: int
    last_hour: int
    members: list[MemberCount] = field(default_factory=list)


def review_counters(*, case: Case, image_ids: QuerySet) -> Counters:
    """The counters over the case's images (`image_ids`: a query of their ids, from the jobs layer)."""
    since = timezone.now() - RATE_WINDOW
    marks = ReviewMark.objects.filter(case=case, image_id__in=image_ids)
    # One pass over the marks for the images (reviewed, and first reviewed within the window), one per member.
    images = marks.values("image_id").annotate(first_at=Min("at"))
    found = images.aggregate(reviewed=Count("image_id"), first=Count("image_id", filter=Q(first_at__gte=since)))
    members = [
        MemberCount(label=_name_of(row), reviewed=row["n"], last_hour=row["recent"])
        for row in marks.values("user__email", "user__username")
        .annotate(n=Count("id"), recent=Count("id", filter=Q(at__gte=since)))
        .order_by("-n")
    ]
    return Counters(reviewed=found["reviewed"], total=image_ids.count(), last_hour=found["first"], members=members)


def _name_of(row: dict) -> str:
    return row["user__email"] or row["user__username"] or DELETED


def disputes(*, case: Case) -> QuerySet[Categorisation]:
    """The images members disagree about, for the lead to settle."""
    return Categorisation.objects.filter(case=case, disputed=True).select_related("category", "set_by", "image")


def proposals_waiting(*, case: Case) -> QuerySet[Categorisation]:
    """The categories proposed and not yet confirmed."""
    return Categorisation.objects.filter(case=case, status=Categorisation.Status.PROPOSED).select_related(
        "category", "set_by", "image"
    )


# The values of the gallery's review filter besides a category's code.
UNCATEGORISED = "none"
PROPOSED = "proposed"
DISPUTED = "disputed"


def review_filter(*, case: Case, user: AbstractBaseUser, category: str = "", bookmarked: bool = False,
                  noted: bool = False, reviewed: str = "") -> Q:  # fmt: skip
    """A condition on rows with an `image` field: images of the case in `category` (a code of its scheme,
    UNCATEGORISED, PROPOSED or DISPUTED), bookmarked by the user, with notes, reviewed ("yes") or not ("no")."""
    ref = OuterRef("image")
    q = Q()
    decided = Categorisation.objects.filter(case=case, image=ref)
    if category == UNCATEGORISED:
        q &= ~Exists(decided)
    elif category == PROPOSED:
        q &= Exists(decided.filter(status=Categorisation.Status.PROPOSED))
    elif category == DISPUTED:
        q &= Exists(decided.filter(disputed=True))
    elif category:
        q &= Exists(decided.filter(category__code=category, category__scheme_id=case.scheme_id))
    if bookmarked:
        q &= Exists(Bookmark.objects.filter(case=case, image=ref, user=user))
    if noted:
        q &= Exists(Note.objects.filter(case=case, image=ref))
    if reviewed in ("yes", "no"):
        mark = Exists(ReviewMark.objects.filter(case=case, image=ref))
        q &= mark if reviewed == "yes" else ~mark
    return q


def sensitive_categories(*, case: Case) -> QuerySet[Category]:
    return Category.objects.filter(scheme_id=case.scheme_id, sensitive=True)


def viewer_setting(*, user: AbstractBaseUser) -> ViewerSetting:
    """The user's exposure reduction (unsaved and off when they never set it)."""
    return ViewerSetting.objects.filter(user=user).first() or ViewerSetting(user=user)


def recorded_about() -> Q:
    """A condition on images (rows of content.Image): some case records a decision about it (a category or its
    history, a bookmark, a note, a review mark). Such an image outlives the jobs that found it: what was decided is
    kept, and shown again when its content is found again."""
    ref = OuterRef("pk")
    return (
        Exists(CategoryChange.objects.filter(image=ref))
        | Exists(Bookmark.objects.filter(image=ref))
        | Exists(Note.objects.filter(image=ref))
        | Exists(ReviewMark.objects.filter(image=ref))
    )
