"""Review writes: categorise, confirm, bookmark, note, mark reviewed, and a user's viewer setting.

Each takes a case and the images (by id) the caller has checked belong to it (the jobs layer knows which do), and
the acting user, whose role in the case decides: the lead, examiners and staff write; a reviewer only reads
(ReviewRefused). Every write and every refusal is in the audit log (`review.*`, target the case's reference); every
category change is also in the image's history (CategoryChange). Writes to one case take the case's row lock, so that
two members categorising the same image at once are applied one after the other, each change recorded with what it
replaced. Once committed, a change is announced (`review.signals.review_changed`).

A hash set that matched an image proposes its category too (`category_propose_by_hash_set`): no member is acting
then, so the proposal has no proposer and any member may confirm it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record, user_name
from cases.access import case_role_of
from cases.models import Case, CaseMember, Category
from cases.services import case_locked
from database.bulk import bulk_insert
from review.models import Bookmark, Categorisation, CategoryChange, Note, ReviewMark, ViewerSetting
from review.selectors import HASH_SET_PROPOSER
from review.signals import review_changed

# Image ids named in one `review_changed`; more changed at once are announced without their ids.
ANNOUNCE_MAX = 500
# The longest note (characters).
NOTE_MAX = 10_000

WRITING_ROLES = frozenset({"staff", CaseMember.Role.LEAD, CaseMember.Role.EXAMINER})


class ReviewRefused(PermissionError):
    """The user may not make this change; the text says why."""


class CategoryUnknown(ValueError):
    """No category of the case's scheme has this code."""


@dataclass(frozen=True)
class ReviewOutcome:
    """What a categorisation or confirmation did: images changed, of them proposed (awaiting confirmation) and
    confirmed; images left as they were; images refused (a proposal the user made themselves cannot be confirmed
    by them)."""

    changed: int = 0
    proposed: int = 0
    confirmed: int = 0
    unchanged: int = 0
    refused: int = 0


@contextmanager
def _writing(action: str, case: Case, user: AbstractBaseUser) -> Iterator[str]:
    """A write to the case, under its row lock, by a user whose role may write (yields it). A refusal is recorded
    once the transaction it would have written in is rolled back."""
    try:
        with transaction.atomic():
            case_locked(case_id=case.pk)
            role = case_role_of(case_id=case.pk, user=user)
            if role == CaseMember.Role.REVIEWER:
                raise ReviewRefused("a reviewer (read-only) may not change what the case records")
            if role not in WRITING_ROLES:
                raise ReviewRefused(f"{user_name(user)} is no member of case {case.reference}")
            yield role
    except ReviewRefused as exc:
        audit_record(action, outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=str(exc))
        raise


def _announce(case: Case, image_ids: Sequence[int], what: str) -> None:
    ids = list(image_ids) if len(image_ids) <= ANNOUNCE_MAX else []
    transaction.on_commit(lambda: review_changed.send(sender=Case, case_id=case.pk, image_ids=ids, what=what))


def category_status(category: Category) -> str:
    """The status a category has when set: proposed where it needs a second member's confirmation."""
    return Categorisation.Status.PROPOSED if category.needs_confirmation else Categorisation.Status.SET


def category_in_scheme(*, case: Case, code: str) -> Category:
    """The category of the case's scheme with this code (CategoryUnknown otherwise)."""
    # No code holds a NUL (PostgreSQL's text cannot), nor can the database compare one.
    category = None if "\x00" in code else Category.objects.filter(scheme_id=case.scheme_id, code=code).first()
    if category is None:
        raise CategoryUnknown(f"the case's scheme has no category {code!r}")
    return category


def _unique(image_ids: Iterable[int]) -> list[int]:
    return sorted(set(image_ids))


def category_set(*, case: Case, user: AbstractBaseUser, code: str, image_ids: Iterable[int]) -> ReviewOutcome:
    """Put the images in the category `code` of the case's scheme (its "clears" category takes their category
    away). One that needs confirmation is proposed; an image already in the category is left as it is.

    A decision that stands on a second pair of eyes is guarded: a category another member proposed, any confirmed
    one (its proposer included: another member agreed to it), and a disputed one. A member who puts another category
    over it leaves the image disputed, and may not take it away (refused, and audited, for each such image); the
    case's lead (or staff) settles disputes, and may do both."""
    ids = _unique(image_ids)
    try:
        category = category_in_scheme(case=case, code=code)
    except CategoryUnknown as exc:
        audit_record("review.category.set", outcome=AuditEvent.Outcome.REFUSED, target=case.reference,
                     detail=str(exc), images=len(ids))  # fmt: skip
        raise
    with _writing("review.category.set", case, user) as role:
        now = timezone.now()
        # (category, status, set by, disputed) of each image that has a category: tuples, not instances, and the
        # rows written as mappings (database.bulk): ten thousand images at once stay well under two seconds.
        current = {
            row[0]: row[1:]
            for row in Categorisation.objects.filter(case=case, image_id__in=ids).values_list(
                "image_id", "category_id", "status", "set_by_id", "disputed"
            )
        }
        refused = []
        after = None if category.clears else category.pk
        status = "" if category.clears else category_status(category)
        settles = role in ("staff", CaseMember.Role.LEAD)
        action = CategoryChange.Action.CLEAR if category.clears else CategoryChange.Action.SET
        history, rows = [], []
        for image_id in ids:
            before_id, before_status, before_by, before_disputed = current.get(image_id, (None, "", None, False))
            if before_id == after:
                continue
            guarded = (
                before_disputed
                or before_status == Categorisation.Status.CONFIRMED
                or (before_status == Categorisation.Status.PROPOSED and before_by != user.pk)
            )
            if category.clears and guarded and not settles:
                refused.append(image_id)
                continue
            history.append(
                {
                    "case_id": case.pk,
                    "image_id": image_id,
                    "at": now,
                    "user_id": user.pk,
                    "user_label": user_name(user),
                    "action": action,
                    "before_id": before_id,
                    "before_status": before_status,
                    "after_id": after,
                    "after_status": status,
                }
            )
            if category.clears:
                continue
            rows.append(
                {"case_id": case.pk, "image_id": image_id, "category_id": category.pk, "status": status,
                 "set_by_id": user.pk, "set_at": now, "disputed": guarded and not settles}
            )  # fmt: skip
        changed = [change["image_id"] for change in history]
        Categorisation.objects.filter(case=case, image_id__in=[i for i in changed if i in current]).delete()
        bulk_insert(Categorisation, rows)
        bulk_insert(CategoryChange, history)
        _marked(case, user, ids, now)
        outcome = ReviewOutcome(
            changed=len(history),
            proposed=len(rows) if category.needs_confirmation else 0,
            unchanged=len(ids) - len(history) - len(refused),
            refused=len(refused),
        )
        audit_record(
            "review.category.set", target=case.reference, detail=f"{category.code}: {outcome.changed} images",
            images=len(ids), changed=outcome.changed, proposed=outcome.proposed,
        )  # fmt: skip
        _announce(case, changed, "category")
    if refused:  # recorded outside the transaction's fate, as a refusal always is
        audit_record(
            "review.category.set", outcome=AuditEvent.Outcome.REFUSED, target=case.reference, images=len(refused),
            detail="only the case's lead takes away a category another member proposed or confirmed, or disputes",
        )  # fmt: skip
    return outcome


def category_propose_by_hash_set(*, case: Case, set_name: str, code: str, image_ids: Iterable[int]) -> int:
    """Propose the category `code` for the images on behalf of the hash set `set_name` that matched them: a proposal
    no member made (any member may confirm it), in the history as "hash set <name>". Only where the case's scheme has
    the code (never its "clears" category), and only for images no one categorised in the case yet (no category, no
    history): a hash set never overrides a member's decision, nor one taken away. Returns how many were proposed."""
    ids = _unique(image_ids)
    category = Category.objects.filter(scheme_id=case.scheme_id, code=code, clears=False).first()
    if category is None or not ids:
        return 0
    label = f"{HASH_SET_PROPOSER}{set_name}"
    with transaction.atomic():
        case_locked(case_id=case.pk)
        decided = set(Categorisation.objects.filter(case=case, image_id__in=ids).values_list("image_id", flat=True))
        decided |= set(CategoryChange.objects.filter(case=case, image_id__in=ids).values_list("image_id", flat=True))
        todo = [i for i in ids if i not in decided]
        if not todo:
            return 0
        now = timezone.now()
        status = Categorisation.Status.PROPOSED
        bulk_insert(
            Categorisation,
            [{"case_id": case.pk, "image_id": i, "category_id": category.pk, "status": status, "set_by_id": None,
              "set_at": now, "disputed": False} for i in todo],
        )  # fmt: skip
        bulk_insert(
            CategoryChange,
            [{"case_id": case.pk, "image_id": i, "at": now, "user_id": None, "user_label": label[:254],
              "action": CategoryChange.Action.SET, "before_id": None, "before_status": "", "after_id": category.pk,
              "after_status": status} for i in todo],
        )  # fmt: skip
        audit_record("review.category.propose", target=case.reference, detail=f"{code}: {len(todo)} images, by {label}",
                     images=len(todo), hash_set=set_name)  # fmt: skip
        _announce(case, todo, "category")
    return len(todo)


def category_confirm(*, case: Case, user: AbstractBaseUser, image_ids: Iterable[int]) -> ReviewOutcome:
    """Confirm the proposed categories of the images: a second member's agreement (four eyes). The member who
    proposed a category may not confirm it (refused, and audited, for each such image); an image with no
    proposal is left as it is. A proposal whose proposer's account is gone may be confirmed by any member."""
    ids = _unique(image_ids)
    with _writing("review.category.confirm", case, user):
        now = timezone.now()
        proposed = list(
            Categorisation.objects.filter(case=case, image_id__in=ids, status=Categorisation.Status.PROPOSED)
        )
        own = [row for row in proposed if row.set_by_id == user.pk]
        others = [row for row in proposed if row.set_by_id != user.pk]
        Categorisation.objects.filter(pk__in=[row.pk for row in others]).update(
            status=Categorisation.Status.CONFIRMED, confirmed_by=user, confirmed_at=now
        )
        bulk_insert(
            CategoryChange,
            [
                {"case_id": case.pk, "image_id": row.image_id, "at": now, "user_id": user.pk,
                 "user_label": user_name(user), "action": CategoryChange.Action.CONFIRM, "before_id": row.category_id,
                 "before_status": row.status, "after_id": row.category_id,
                 "after_status": Categorisation.Status.CONFIRMED}
                for row in others
            ],
        )  # fmt: skip
        _marked(case, user, [row.image_id for row in others], now)
        outcome = ReviewOutcome(
            changed=len(others), confirmed=len(others), unchanged=len(ids) - len(proposed), refused=len(own)
        )
        if others:
            audit_record("review.category.confirm", target=case.reference, detail=f"{len(others)} images",
                         images=len(ids), confirmed=len(others))  # fmt: skip
        _announce(case, [row.image_id for row in others], "category")
    if own:  # recorded outside the transaction's fate: a refusal is kept even if nothing else is
        audit_record(
            "review.category.confirm", outcome=AuditEvent.Outcome.REFUSED, target=case.reference,
            detail="the member who proposed a category may not confirm it", images=len(own),
        )  # fmt: skip
    return outcome


def _marked(case: Case, user: AbstractBaseUser, image_ids: Sequence[int], now) -> None:
    bulk_insert(ReviewMark, [{"case_id": case.pk, "image_id": i, "user_id": user.pk, "at": now} for i in image_ids])


def reviewed_mark(*, case: Case, user: AbstractBaseUser, image_ids: Iterable[int]) -> int:
    """Mark the images as looked at by the user ("mark page reviewed"). Returns how many were not yet."""
    ids = _unique(image_ids)
    with _writing("review.reviewed", case, user):
        before = ReviewMark.objects.filter(case=case, user=user, image_id__in=ids).count()
        _marked(case, user, ids, timezone.now())
        audit_record("review.reviewed", target=case.reference, detail=f"{len(ids)} images", images=len(ids))
        _announce(case, ids, "reviewed")
    return len(ids) - before


def bookmark_set(*, case: Case, user: AbstractBaseUser, image_ids: Iterable[int], on: bool) -> int:
    """Set (on) or take away the user's bookmark on the images. Returns how many changed."""
    ids = _unique(image_ids)
    with _writing("review.bookmark", case, user):
        if on:
            have = set(
                Bookmark.objects.filter(case=case, user=user, image_id__in=ids).values_list("image_id", flat=True)
            )
            Bookmark.objects.bulk_create(
                [Bookmark(case=case, user=user, image_id=i) for i in ids if i not in have], ignore_conflicts=True
            )
            changed = len(ids) - len(have)
        else:
            changed, _ = Bookmark.objects.filter(case=case, user=user, image_id__in=ids).delete()
        audit_record("review.bookmark", target=case.reference, detail=f"{'set' if on else 'removed'}: {changed} images",
                     images=len(ids))  # fmt: skip
        _announce(case, ids, "bookmark")
    return changed


def note_add(*, case: Case, user: AbstractBaseUser, image_id: int, text: str) -> Note:
    """Add a note on an image. ValueError for an empty note or one over NOTE_MAX characters."""
    text = text.strip()
    if not text or len(text) > NOTE_MAX:
        raise ValueError(f"a note has 1 to {NOTE_MAX} characters")
    if "\x00" in text:
        raise ValueError("a note holds no NUL character")
    with _writing("review.note", case, user):
        note = Note.objects.create(case=case, image_id=image_id, author=user, author_label=user_name(user), text=text)
        audit_record("review.note", target=case.reference, detail=f"image {image_id}", note_id=note.pk)
        _announce(case, [image_id], "note")
    return note


def viewer_setting_set(*, user: AbstractBaseUser, blur: bool, grey: bool) -> ViewerSetting:
    """The user's exposure reduction: pictures blurred and/or grey until revealed one at a time."""
    setting, _ = ViewerSetting.objects.update_or_create(user=user, defaults={"blur": blur, "grey": grey})
    audit_record("review.viewer_setting", detail=f"blur={'on' if blur else 'off'}, grey={'on' if grey else 'off'}")
    return setting
