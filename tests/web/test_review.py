"""The gallery's review routes over HTTP: categorising by id and by "all that match the filters", four eyes, who may
write (a reviewer is refused and audited, a non-member sees nothing), malformed input refused, and the gallery's
review filters and tile marks."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import CategoryScheme
from cases.schemes import PROJECT_VIC
from jobs.models import JobImage
from jobs.services import job_share
from review.models import Bookmark, Categorisation, Note, ReviewMark

pytestmark = pytest.mark.integration


def url(job, name: str, query: str = "") -> str:
    return reverse(f"jobs:review_{name}", args=[job.pk]) + (f"?{query}" if query else "")


def image_ids(job) -> list[int]:
    return sorted(JobImage.objects.filter(job=job).values_list("image_id", flat=True))


def post(client, job, name: str, query: str = "", **data):
    return client.post(url(job, name, query), data)


@pytest.fixture
def reviewed_job(scan, examiner, other):
    """A scanned job whose case uses Project VIC (1 and 2 need confirmation); `other` is an examiner of it."""
    job = scan(examiner)
    job.case.scheme = CategoryScheme.objects.get(name=PROJECT_VIC)
    job.case.save(update_fields=["scheme"])
    job_share(job=job, user=other, role="full")
    return job


def test_categorise_by_ids_answers_the_new_decisions_and_counters(reviewed_job, examiner, client_for):
    job = reviewed_job
    first, second, *rest = image_ids(job)
    response = post(client_for(examiner), job, "categorise", ids=f"{first},{second}", code="5")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outcome"]["changed"] == 2
    assert body["decisions"][str(first)]["code"] == "5"
    assert body["decisions"][str(first)]["status"] == "set"
    assert body["counters"]["reviewed"] == 2
    assert body["counters"]["mine"] == 2
    assert body["counters"]["total"] == len(rest) + 2
    assert set(Categorisation.objects.filter(case=job.case).values_list("image_id", flat=True)) == {first, second}


def test_categorise_all_that_match_the_filters_goes_by_the_server_not_the_page(reviewed_job, examiner, client_for):
    job = reviewed_job
    client = client_for(examiner)
    matching = client.get(reverse("jobs:gallery", args=[job.pk]) + "?gps=1")
    located = int(matching.context["count"])
    assert 1 < located < len(image_ids(job))
    response = post(client, job, "categorise", "gps=1", all="1", code="4")
    assert response.status_code == 200, response.content
    assert response.json()["images"] == located
    assert Categorisation.objects.filter(case=job.case, category__code="4").count() == located
    # The gallery's category filter now finds exactly those.
    assert client.get(reverse("jobs:gallery", args=[job.pk]) + "?category=4").context["count"] == located
    uncategorised = client.get(reverse("jobs:gallery", args=[job.pk]) + "?category=none").context["count"]
    assert uncategorised == len(image_ids(job)) - located


def test_four_eyes_over_the_web(reviewed_job, examiner, other, client_for):
    job = reviewed_job
    image = image_ids(job)[0]
    alice, bob = client_for(examiner), client_for(other)
    proposed = post(alice, job, "categorise", ids=str(image), code="1").json()
    assert proposed["decisions"][str(image)]["status"] == "proposed"
    own = post(alice, job, "confirm", ids=str(image)).json()
    assert own["outcome"]["refused"] == 1
    assert own["decisions"][str(image)]["status"] == "proposed"
    assert AuditEvent.objects.filter(action="review.category.confirm", outcome="refused").exists()
    assert alice.get(reverse("jobs:gallery", args=[job.pk]) + "?category=proposed").context["count"] == 1
    confirmed = post(bob, job, "confirm", ids=str(image)).json()
    assert confirmed["decisions"][str(image)]["status"] == "confirmed"
    assert confirmed["decisions"][str(image)]["confirmed_by"] == other.email
    panel = alice.get(reverse("jobs:image", args=[job.pk, image])).content.decode()
    assert "confirmed by bob@example.org" in panel
    assert "1 (proposed) → 1 (confirmed)" in panel

    # Another member's category over a proposal: disputed, for the lead to settle.
    second = image_ids(job)[1]
    post(alice, job, "categorise", ids=str(second), code="1")
    disputed = post(bob, job, "categorise", ids=str(second), code="2").json()
    assert disputed["decisions"][str(second)]["disputed"] is True
    assert alice.get(reverse("jobs:gallery", args=[job.pk]) + "?category=disputed").context["count"] == 1
    assert "2?!</span>" in alice.get(reverse("jobs:gallery", args=[job.pk])).content.decode()


def test_a_reviewer_is_refused_and_audited_and_a_non_member_sees_nothing(reviewed_job, examiner, make_user, client_for):
    job = reviewed_job
    reviewer = make_user("carol@example.org")
    job_share(job=job, user=reviewer, role="reviewer")
    image = image_ids(job)[0]
    refused = post(client_for(reviewer), job, "categorise", ids=str(image), code="5")
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]
    assert AuditEvent.objects.filter(action="review.category.set", outcome="refused", user_id=reviewer.pk).exists()
    assert post(client_for(reviewer), job, "bookmark", ids=str(image), on="1").status_code == 403
    panel = client_for(reviewer).get(reverse("jobs:image", args=[job.pk, image])).content.decode()
    assert 'data-testid="category-5" disabled' in panel
    # A reviewer still reads the decisions.
    assert client_for(reviewer).get(url(job, "decisions", f"ids={image}")).status_code == 200

    stranger = make_user("mallory@example.org")
    for name in ("categorise", "confirm", "bookmark", "reviewed", "note"):
        response = post(client_for(stranger), job, name, ids=str(image), code="5", on="1", text="x")
        assert response.status_code == 404, name
    assert client_for(stranger).get(url(job, "decisions", f"ids={image}")).status_code == 404
    assert not Categorisation.objects.filter(case=job.case).exists()


def test_unknown_categories_and_malformed_input_are_refused(reviewed_job, examiner, scan, client_for):
    job = reviewed_job
    client = client_for(examiner)
    image = image_ids(job)[0]
    unknown = post(client, job, "categorise", ids=str(image), code="pertinent")
    assert unknown.status_code == 400
    assert "no category" in unknown.json()["error"]
    for ids in ("", "abc", "1,,x", "-1", "١٢", "9" * 30, ",".join(["1"] * 6000)):
        response = post(client, job, "categorise", ids=ids, code="5")
        assert response.status_code in (400, 404), ids
        assert response["Content-Type"] == "application/json", ids
    assert post(client, job, "categorise", "reviewed=maybe", all="1", code="5").status_code == 400
    assert post(client, job, "bookmark", ids=str(image), on="yes").status_code == 400
    assert post(client, job, "note", ids=str(image), text="   ").status_code == 400
    assert post(client, job, "viewer", blur="2", grey="0").status_code == 400
    assert client.get(url(job, "categorise")).status_code == 405
    # An image another job found is not one of this job's.
    elsewhere = scan(examiner, name="elsewhere", extra=1)
    foreign = sorted(set(image_ids(elsewhere)) - set(image_ids(job)))[0]
    assert post(client, job, "categorise", ids=f"{image},{foreign}", code="5").status_code == 404
    assert not Categorisation.objects.filter(case=job.case).exists()
    assert AuditEvent.objects.filter(action="review.category.set", outcome="refused").count() >= 3


def test_the_csrf_token_is_required(reviewed_job, examiner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(examiner)
    assert post(client, reviewed_job, "categorise", ids=str(image_ids(reviewed_job)[0]), code="5").status_code == 403
    assert not Categorisation.objects.exists()


def test_bookmarks_notes_and_reviewed_filter_the_gallery_and_mark_the_tiles(reviewed_job, examiner, other, client_for):
    job = reviewed_job
    a, b, c, *_ = image_ids(job)
    alice, bob = client_for(examiner), client_for(other)
    assert post(alice, job, "bookmark", ids=f"{a},{b}", on="1").json()["changed"] == 2
    assert post(alice, job, "bookmark", ids=str(b), on="0").json()["changed"] == 1
    noted = post(bob, job, "note", ids=str(c), text="<b>seen</b> before")
    assert noted.status_code == 200
    assert noted.json()["decisions"][str(c)]["notes"] == 1
    assert post(bob, job, "reviewed", ids=f"{a},{b}").json()["changed"] == 2
    gallery = reverse("jobs:gallery", args=[job.pk])

    def shown(client, query: str) -> set[int]:
        return {item.image_id for item in client.get(f"{gallery}?{query}").context["page"].items}

    assert shown(alice, "bookmarked=1") == {a}
    assert shown(bob, "bookmarked=1") == set()  # bookmarks are each member's own
    assert shown(alice, "noted=1") == {c}
    assert shown(alice, "reviewed=yes") == {a, b}
    assert c in shown(alice, "reviewed=no")
    assert a not in shown(alice, "reviewed=no")
    page = alice.get(gallery).content.decode()
    assert page.count('data-testid="bookmark-mark"') == 1
    panel = alice.get(reverse("jobs:image", args=[job.pk, c])).content.decode()
    assert "&lt;b&gt;seen&lt;/b&gt; before" in panel
    assert Note.objects.filter(case=job.case).count() == 1
    assert ReviewMark.objects.filter(case=job.case).count() == 2
    assert Bookmark.objects.filter(case=job.case).count() == 1


def test_sensitive_categories_and_the_viewer_setting_veil_the_tiles(reviewed_job, examiner, other, client_for):
    job = reviewed_job
    a = image_ids(job)[0]
    alice, bob = client_for(examiner), client_for(other)
    post(alice, job, "categorise", ids=str(a), code="3")  # CGI: sensitive, no confirmation
    gallery = reverse("jobs:gallery", args=[job.pk])

    def veiled(client) -> set[int]:
        html = client.get(gallery).content.decode()
        return {int(i) for i in re.findall(r'class="tile veiled[^"]*" href="#image-\d+" data-image="(\d+)"', html)}

    assert veiled(bob) == {a}  # for everyone
    assert json.loads(post(bob, job, "viewer", blur="1", grey="1").content) == {"blur": True, "grey": True}
    assert veiled(bob) == set(image_ids(job))
    assert 'class="tile veiled greyed"' in bob.get(gallery).content.decode()
    assert veiled(alice) == {a}  # a setting of bob's own
    assert AuditEvent.objects.filter(action="review.viewer_setting", user_id=other.pk).exists()


def test_the_decisions_route_answers_for_the_images_named(reviewed_job, examiner, client_for):
    job = reviewed_job
    a, b, *_ = image_ids(job)
    client = client_for(examiner)
    post(client, job, "categorise", ids=str(a), code="4")
    body = client.get(url(job, "decisions", f"ids={a},{b}")).json()
    assert body["decisions"][str(a)]["code"] == "4"
    assert body["decisions"][str(b)]["code"] == ""
    assert body["counters"]["reviewed"] == 1
    group = client.get(reverse("jobs:review_group", args=[job.pk, a])).json()
    assert group["images"] == [a]
    assert group["jobs"] == 1
    assert group["paths"] >= 1


def test_an_image_the_job_did_not_find_is_refused_with_the_case_named(reviewed_job, examiner, scan, client_for):
    job = reviewed_job
    client = client_for(examiner)
    elsewhere = scan(examiner, name="elsewhere", extra=1)
    foreign = sorted(set(image_ids(elsewhere)) - set(image_ids(job)))[0]
    assert post(client, job, "bookmark", ids=str(foreign), on="1").status_code == 404
    assert client.get(url(job, "decisions", f"ids={foreign}")).status_code == 404
    refused = AuditEvent.objects.filter(outcome="refused", detail="an image the job did not find")
    assert sorted(refused.values_list("action", "target")) == [
        ("job.view", job.case.reference), ("review.bookmark", job.case.reference)
    ]  # fmt: skip


def test_the_decisions_route_leaves_the_counters_out_when_asked(reviewed_job, examiner, client_for):
    """A page reading its images in several batches asks for the counters with the last one only."""
    job = reviewed_job
    a, b, *_ = image_ids(job)
    client = client_for(examiner)
    body = client.get(url(job, "decisions", f"ids={a},{b}&counters=0")).json()
    assert set(body["decisions"]) == {str(a), str(b)}
    assert "counters" not in body
    assert "counters" in client.get(url(job, "decisions", f"ids={a}&counters=1")).json()
    malformed = client.get(url(job, "decisions", f"ids={a}&counters=maybe"))
    assert malformed.status_code == 400
    assert AuditEvent.objects.filter(action="job.view", outcome="refused", detail="counters: 1 or 0").exists()
