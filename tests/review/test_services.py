"""Review writes: a category per case and content with its history, four eyes (the proposer never confirms; a
reviewer never writes; every refusal on the record), disputes for the lead, a deleted member's proposals, and two
members categorising the same image at once, applied one after the other."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.schemes import PROJECT_VIC
from cases.services import case_create, case_locked, case_member_set, scheme_named
from content.models import Image
from jobs.models import FileInstance, Job, JobImage
from jobs.services import job_delete
from review.models import Categorisation, CategoryChange, ReviewMark
from review.selectors import decisions, review_counters, review_filter
from review.services import (
    CategoryUnknown,
    ReviewRefused,
    bookmark_set,
    category_confirm,
    category_set,
    note_add,
    reviewed_mark,
)
from tests.support.bulk import image
from tests.support.locking import while_held


def user(name: str):
    return get_user_model().objects.create_user(username=name, email=f"{name}@example.org", password="x")


@pytest.fixture
def team():
    """A Project VIC case: a lead, two examiners and a reviewer."""
    lead = user("lead")
    case = case_create(reference="2024-017", title="t", owner=lead, scheme=scheme_named(name=PROJECT_VIC))
    members = {"lead": lead}
    for name, role in (("ann", "examiner"), ("bob", "examiner"), ("rev", "reviewer")):
        members[name] = user(name)
        case_member_set(case=case, user=members[name], role=role)
    return case, members


@pytest.fixture
def images():
    return [Image.objects.create(**image(n)).pk for n in range(1, 6)]


def state(case, image_id):
    row = Categorisation.objects.filter(case=case, image_id=image_id).select_related("category").first()
    return (row.category.code, row.status, row.disputed) if row else None


def history(case, image_id):
    return [
        (c.action, c.before.code if c.before else None, c.after.code if c.after else None, c.user_label)
        for c in CategoryChange.objects.filter(case=case, image_id=image_id).select_related("before", "after")
        .order_by("id")
    ]  # fmt: skip


def refusals(action):
    return list(AuditEvent.objects.filter(action=action, outcome="refused").values_list("detail", flat=True))


@pytest.mark.django_db
def test_a_category_is_kept_once_per_content_with_its_history(team, images):
    case, m = team
    first = category_set(case=case, user=m["ann"], code="4", image_ids=images[:3])
    assert (first.changed, first.proposed, first.unchanged) == (3, 0, 0)
    again = category_set(case=case, user=m["bob"], code="4", image_ids=[images[0], images[0], images[3]])
    assert (again.changed, again.unchanged) == (1, 1)  # named twice, counted once
    category_set(case=case, user=m["bob"], code="5", image_ids=[images[0]])
    category_set(case=case, user=m["ann"], code="0", image_ids=[images[0]])  # "uncategorised" takes it away
    assert state(case, images[0]) is None
    assert history(case, images[0]) == [
        ("set", None, "4", "ann@example.org"),
        ("set", "4", "5", "bob@example.org"),
        ("clear", "5", None, "ann@example.org"),
    ]
    # Categorising marks reviewed; the counters read the marks.
    assert set(ReviewMark.objects.filter(case=case).values_list("image_id", flat=True)) == set(images[:4])
    counters = review_counters(case=case, image_ids=Image.objects.filter(pk__in=images).values("id"))
    assert (counters.reviewed, counters.total, counters.last_hour) == (4, 5, 4)
    assert {c.label: c.reviewed for c in counters.members} == {"ann@example.org": 3, "bob@example.org": 2}
    event = AuditEvent.objects.filter(action="review.category.set").first()
    assert (event.target, event.outcome) == ("2024-017", "ok")


@pytest.mark.django_db
def test_four_eyes_the_proposer_never_confirms(team, images):
    case, m = team
    proposed = category_set(case=case, user=m["ann"], code="1", image_ids=images[:2])
    assert proposed.proposed == 2
    assert state(case, images[0]) == ("1", "proposed", False)

    own = category_confirm(case=case, user=m["ann"], image_ids=images[:2])
    assert (own.confirmed, own.refused) == (0, 2)
    assert refusals("review.category.confirm") == ["the member who proposed a category may not confirm it"]
    assert state(case, images[0]) == ("1", "proposed", False)

    confirmed = category_confirm(case=case, user=m["bob"], image_ids=images[:3])  # the third has no proposal
    assert (confirmed.confirmed, confirmed.unchanged) == (2, 1)
    row = Categorisation.objects.get(case=case, image_id=images[0])
    assert (row.status, row.set_by, row.confirmed_by) == ("confirmed", m["ann"], m["bob"])
    assert history(case, images[0])[-1] == ("confirm", "1", "1", "bob@example.org")


@pytest.mark.django_db
def test_a_reviewer_and_a_stranger_write_nothing_and_are_on_the_record(team, images):
    case, m = team
    stranger = user("stranger")
    for who in (m["rev"], stranger):
        with pytest.raises(ReviewRefused):
            category_set(case=case, user=who, code="4", image_ids=images)
        with pytest.raises(ReviewRefused):
            bookmark_set(case=case, user=who, image_ids=images, on=True)
        with pytest.raises(ReviewRefused):
            note_add(case=case, user=who, image_id=images[0], text="x")
        with pytest.raises(ReviewRefused):
            reviewed_mark(case=case, user=who, image_ids=images)
    assert not Categorisation.objects.exists()
    assert not ReviewMark.objects.exists()
    assert len(refusals("review.category.set")) == 2
    assert len(refusals("review.note")) == 2


@pytest.mark.django_db
def test_a_category_not_in_the_case_scheme_is_refused(team, images):
    case, m = team
    with pytest.raises(CategoryUnknown, match="no category 'pertinent'"):  # a code of the general scheme
        category_set(case=case, user=m["ann"], code="pertinent", image_ids=images)
    assert refusals("review.category.set") == ["the case's scheme has no category 'pertinent'"]
    assert not Categorisation.objects.exists()


@pytest.mark.django_db
def test_overriding_another_members_proposal_is_a_dispute_the_lead_settles(team, images):
    case, m = team
    category_set(case=case, user=m["ann"], code="1", image_ids=[images[0]])
    category_set(case=case, user=m["bob"], code="5", image_ids=[images[0]])
    assert state(case, images[0]) == ("5", "set", True)
    found = Categorisation.objects.filter(case=case).filter(
        review_filter(case=case, user=m["lead"], category="disputed")
    )
    assert [row.image_id for row in found] == [images[0]]
    # An ordinary change keeps the dispute open; the lead's decision settles it.
    category_set(case=case, user=m["ann"], code="4", image_ids=[images[0]])
    assert state(case, images[0]) == ("4", "set", True)
    category_set(case=case, user=m["lead"], code="2", image_ids=[images[0]])
    assert state(case, images[0]) == ("2", "proposed", False)  # four eyes hold for the lead too


@pytest.mark.django_db
def test_a_deleted_members_proposals_wait_for_any_other_member(team, images):
    case, m = team
    category_set(case=case, user=m["ann"], code="2", image_ids=images[:2])
    m["ann"].delete()
    assert state(case, images[0]) == ("2", "proposed", False)
    assert history(case, images[0]) == [("set", None, "2", "ann@example.org")]  # who proposed it stays known
    assert category_confirm(case=case, user=m["bob"], image_ids=images[:2]).confirmed == 2


@pytest.mark.django_db
def test_decisions_name_bookmarks_notes_and_reviews(team, images):
    case, m = team
    category_set(case=case, user=m["ann"], code="1", image_ids=[images[0]])
    bookmark_set(case=case, user=m["bob"], image_ids=images[:2], on=True)
    note_add(case=case, user=m["bob"], image_id=images[1], text="same room as exhibit 3")
    reviewed_mark(case=case, user=m["bob"], image_ids=[images[2]])
    with pytest.raises(ValueError, match="a note has 1 to"):
        note_add(case=case, user=m["bob"], image_id=images[1], text="   ")
    found = decisions(case=case, image_ids=images, user=m["bob"])
    assert set(found) == set(images[:3])
    assert (found[images[0]].code, found[images[0]].status, found[images[0]].sensitive) == ("1", "proposed", True)
    assert (found[images[0]].bookmarked, found[images[1]].notes, found[images[2]].reviewed) == (True, 1, True)
    assert decisions(case=case, image_ids=images, user=m["ann"])[images[0]].bookmarked is False
    assert bookmark_set(case=case, user=m["bob"], image_ids=images[:2], on=False) == 2


@pytest.mark.django_db(transaction=True)
def test_two_members_at_once_are_applied_one_after_the_other(team, images):
    """Bob's change waits for the case's lock while Ann's is open; once hers commits, his is recorded with hers as
    what it replaced."""
    case, m = team

    def ann() -> None:
        case_locked(case_id=case.pk)
        category_set(case=case, user=m["ann"], code="4", image_ids=[images[0]])

    while_held(ann, lambda: category_set(case=case, user=m["bob"], code="5", image_ids=[images[0]]))
    assert history(case, images[0]) == [("set", None, "4", "ann@example.org"), ("set", "4", "5", "bob@example.org")]
    assert state(case, images[0]) == ("5", "set", False)


@pytest.mark.django_db
def test_deleting_a_job_keeps_what_the_case_decided_about_its_images(team, images):
    """A category outlives the job that found the image: the content stays, with its decisions, for the day it is
    found again; an image nobody decided anything about goes with the job, as before."""
    case, m = team
    job = Job.objects.create(case=case, name="phone", owner=m["lead"], source_path="/evidence/phone")
    for n, image_id in enumerate(images[:2]):
        path = f"DCIM/{n}.jpg"
        FileInstance.objects.create(
            job=job, path=path, path_digest=hashlib.sha256(path.encode()).hexdigest(), kind="file", size=1,
            status="image", image_id=image_id,
        )  # fmt: skip
        JobImage.objects.create(job=job, image_id=image_id)
    category_set(case=case, user=m["ann"], code="4", image_ids=[images[0]])

    assert job_delete(job=job) == 1
    assert set(Image.objects.filter(pk__in=images[:2]).values_list("pk", flat=True)) == {images[0]}
    assert state(case, images[0]) == ("4", "set", False)


@pytest.mark.django_db
def test_a_decision_on_four_eyes_is_neither_overturned_nor_taken_away_by_one_member(team, images):
    """Once another member confirmed it, even its proposer's change is a dispute; only the lead takes away a
    category another member proposed or confirmed, or one that is disputed."""
    case, m = team
    category_set(case=case, user=m["ann"], code="1", image_ids=images[:3])
    category_confirm(case=case, user=m["bob"], image_ids=images[:2])
    category_set(case=case, user=m["ann"], code="5", image_ids=[images[0]])
    assert state(case, images[0]) == ("5", "set", True)

    cleared = category_set(case=case, user=m["bob"], code="0", image_ids=images[:3])  # "uncategorised"
    assert (cleared.changed, cleared.refused) == (0, 3)  # disputed, confirmed, another's proposal
    assert refusals("review.category.set") == [
        "only the case's lead takes away a category another member proposed or confirmed, or disputes"
    ]
    assert state(case, images[1]) == ("1", "confirmed", False)
    own = category_set(case=case, user=m["ann"], code="0", image_ids=[images[2]])  # her own proposal: hers to drop
    assert (own.changed, own.refused) == (1, 0)
    assert category_set(case=case, user=m["lead"], code="0", image_ids=images[:2]).changed == 2
    assert not Categorisation.objects.filter(case=case).exists()


@pytest.mark.django_db
def test_nul_in_a_code_or_a_note_is_refused_as_bad_input(team, images):
    case, m = team
    with pytest.raises(CategoryUnknown):
        category_set(case=case, user=m["ann"], code="1\x00", image_ids=images)
    with pytest.raises(ValueError, match="no NUL"):
        note_add(case=case, user=m["ann"], image_id=images[0], text="a\x00b")
