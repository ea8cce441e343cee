"""The case pages: every member sees the case's overview (jobs, categories, members, review counters); its lead and
staff change its title and members and see the disputes and proposals waiting; anyone else gets the same 404 as for
a case that does not exist; each refusal is in the audit log."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEvent
from cases.models import Case, CaseMember, CategoryScheme
from cases.schemes import PROJECT_VIC
from cases.services import case_create, case_member_set, case_of_its_own, scheme_named
from content.models import Image
from jobs.models import Job, JobImage
from review.services import category_set, reviewed_mark
from tests.support.bulk import image
from tests.support.locking import while_held
from tests.support.web import screenshot, sign_in_browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(team) -> Case:
    """Case 2024-017 (Project VIC categories) with its three members and no job."""
    case = case_create(reference="2024-017", title="Op. Example", owner=team["lead"],
                       scheme=scheme_named(name=PROJECT_VIC))  # fmt: skip
    case_member_set(case=case, user=team["examiner"], role="examiner")
    case_member_set(case=case, user=team["reviewer"], role="reviewer")
    return case


def add_job(case: Case, name: str, images: range, exhibit: str = "") -> Job:
    """A finished job of the case that found the images numbered `images` (made without a scan)."""
    job = Job.objects.create(name=name, owner=case.owner, source_path=f"/evidence/{name}", case=case, exhibit=exhibit,
                             status=Job.Status.COMPLETED, distinct_images=len(images))  # fmt: skip
    for n in images:
        picture, _ = Image.objects.get_or_create(sha256=f"{n:064x}", defaults=image(n))
        JobImage.objects.create(job=job, image=picture)
    return job


def image_id(n: int) -> int:
    return Image.objects.get(sha256=f"{n:064x}").pk


def case_urls(case: Case, user_id: int) -> dict[str, list[str]]:
    return {
        "get": [reverse("casework:detail", args=[case.pk])],
        "post": [
            reverse("casework:edit", args=[case.pk]),
            reverse("casework:member_add", args=[case.pk]),
            reverse("casework:member_role", args=[case.pk, user_id]),
            reverse("casework:member_delete", args=[case.pk, user_id]),
        ],
    }


POSTED = {"title": "Op. Renamed", "description": "", "email": "dave@example.org", "role": "lead"}


def refusals(user) -> list[str]:
    return list(AuditEvent.objects.filter(user_id=user.pk, outcome="refused").values_list("action", flat=True))


def test_a_user_who_is_not_a_member_gets_404_on_every_page_of_the_case(case, team, client_for):
    add_job(case, "phone", range(1, 3))
    outsider = client_for(team["outsider"])
    assert f'data-case="{case.pk}"' not in outsider.get(reverse("casework:list") + "?single=1").text
    urls = case_urls(case, team["examiner"].pk)
    for url in urls["get"]:
        assert outsider.get(url).status_code == 404, url
    for url in urls["post"]:
        assert outsider.post(url, POSTED).status_code == 404, url
    # The same as for a case that does not exist.
    missing = Case(pk=case.pk + 1000)
    for url in case_urls(missing, team["examiner"].pk)["get"]:
        assert outsider.get(url).status_code == 404
    assert set(refusals(team["outsider"])) == {"case.view", "case.update", "case.member.set", "case.member.remove"}
    assert CaseMember.objects.filter(case=case, user=team["outsider"]).count() == 0
    case.refresh_from_db()
    assert case.title == "Op. Example"


@pytest.mark.parametrize("role", ["reviewer", "examiner"])
def test_a_member_who_is_not_lead_sees_the_case_but_changes_nothing(case, team, client_for, role):
    user = team[role]
    client = client_for(user)
    page = client.get(reverse("casework:detail", args=[case.pk]))
    assert page.status_code == 200
    assert 'data-testid="member-form"' not in page.text
    assert 'data-testid="waiting"' not in page.text
    assert 'data-testid="edit"' not in page.text
    for url in case_urls(case, team["lead"].pk)["post"]:
        assert client.post(url, POSTED).status_code == 403, url
    assert sorted(refusals(user)) == sorted(["case.update", "case.member.set", "case.member.set", "case.member.remove"])
    roles = dict(case.members.values_list("user__email", "role"))
    assert roles == {"alice@example.org": "lead", "bob@example.org": "examiner", "carol@example.org": "reviewer"}
    case.refresh_from_db()
    assert case.title == "Op. Example"


def test_the_lead_adds_changes_and_removes_members_by_their_verified_address(case, team, client_for, make_user):
    lead = client_for(team["lead"])
    detail = reverse("casework:detail", args=[case.pk])
    added = lead.post(reverse("casework:member_add", args=[case.pk]), {"email": "DAVE@example.org", "role": "reviewer"})
    assert added.status_code == 302
    assert case.members.get(user=team["outsider"]).role == "reviewer"
    assert client_for(team["outsider"]).get(detail).status_code == 200

    # An address no active account verified is a form error, on the record, whatever the reason.
    unverified = make_user("frank@example.org")
    unverified.emailaddress_set.update(verified=False)
    for email in ("nobody@example.org", "frank@example.org"):
        refused = lead.post(reverse("casework:member_add", args=[case.pk]), {"email": email, "role": "examiner"})
        assert refused.status_code == 200
        assert "No active account has this verified email address." in refused.text
    assert refusals(team["lead"]) == ["case.member.set", "case.member.set"]

    role = lead.post(reverse("casework:member_role", args=[case.pk, team["outsider"].pk]), {"role": "examiner"})
    assert role.status_code == 302
    assert case.members.get(user=team["outsider"]).role == "examiner"
    # A role that does not exist is a form error; a user who is no member has no role to change.
    dave_role = reverse("casework:member_role", args=[case.pk, team["outsider"].pk])
    assert "Choose one of the roles offered." in lead.post(dave_role, {"role": "owner"}).text
    assert (
        lead.post(reverse("casework:member_role", args=[case.pk, unverified.pk]), {"role": "lead"}).status_code == 404
    )

    assert lead.post(reverse("casework:member_delete", args=[case.pk, team["outsider"].pk])).status_code == 302
    assert not case.members.filter(user=team["outsider"]).exists()
    assert client_for(team["outsider"]).get(detail).status_code == 404
    changes = AuditEvent.objects.filter(user_id=team["lead"].pk, outcome="ok", action__startswith="case.member")
    assert list(changes.order_by("id").values_list("action", flat=True)) == [
        "case.member.set", "case.member.set", "case.member.remove"
    ]  # fmt: skip


def test_a_rejected_member_form_is_on_the_record_and_tells_no_address_apart(case, team, client_for, make_user):
    """Each member form refused is recorded with what was wrong; an address nobody has reads as one not verified."""
    lead = client_for(team["lead"])
    make_user("frank@example.org").emailaddress_set.update(verified=False)
    add = reverse("casework:member_add", args=[case.pk])
    for data in (
        {"email": "nobody@example.org", "role": "examiner"},
        {"email": "frank@example.org", "role": "examiner"},
        {"email": "dave@example.org", "role": "owner"},
        {"email": "not an address", "role": "examiner"},
    ):
        assert lead.post(add, data).status_code == 200, data
    bob_role = reverse("casework:member_role", args=[case.pk, team["examiner"].pk])
    assert "Choose one of the roles offered." in lead.post(bob_role, {"role": "owner"}).text
    dave_role = reverse("casework:member_role", args=[case.pk, team["outsider"].pk])
    assert lead.post(dave_role, {"role": "lead"}).status_code == 404

    refused = AuditEvent.objects.filter(user_id=team["lead"].pk, outcome="refused").order_by("id")
    assert set(refused.values_list("target", flat=True)) == {"2024-017"}
    assert list(refused.values_list("action", "detail")) == [
        ("case.member.set", "email: No active account has this verified email address."),
        ("case.member.set", "email: No active account has this verified email address."),
        ("case.member.set", "role: Select a valid choice. owner is not one of the available choices."),
        ("case.member.set", "email: Enter a valid email address."),
        ("case.member.set", "role: Select a valid choice. owner is not one of the available choices."),
        ("case.member.set", f"user {team['outsider'].pk} is no member of the case"),
    ]
    assert set(case.members.values_list("user__email", flat=True)) == {
        "alice@example.org", "bob@example.org", "carol@example.org"
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_lead_lowered_meanwhile_is_refused_by_the_page(case, team, client_for):
    """Bob leads too and adds a lead while Alice makes him an examiner: his request passed the page's check, waits
    for Alice's change, and is then refused (403, on the record) rather than made."""
    case_member_set(case=case, user=team["examiner"], role="lead")
    bob = client_for(team["examiner"])
    add = reverse("casework:member_add", args=[case.pk])
    answer = while_held(
        lambda: case_member_set(case=case, user=team["examiner"], role="examiner", by=team["lead"]),
        lambda: bob.post(add, {"email": "dave@example.org", "role": "lead"}),
    )
    assert answer.status_code == 403
    assert not case.members.filter(user=team["outsider"]).exists()
    assert case.members.get(user=team["examiner"]).role == "examiner"
    assert refusals(team["examiner"]) == ["case.member.set"]


def test_the_last_lead_is_neither_lowered_nor_removed(case, team, client_for):
    lead = client_for(team["lead"])
    for url, data in (
        (reverse("casework:member_delete", args=[case.pk, team["lead"].pk]), {}),
        (reverse("casework:member_role", args=[case.pk, team["lead"].pk]), {"role": "reviewer"}),
        (reverse("casework:member_add", args=[case.pk]), {"email": "alice@example.org", "role": "examiner"}),
    ):
        refused = lead.post(url, data)
        assert refused.status_code == 200, url
        assert "must keep a lead" in refused.text
    assert case.members.get(user=team["lead"]).role == "lead"
    assert sorted(refusals(team["lead"])) == ["case.member.remove", "case.member.set", "case.member.set"]
    # With another lead, the first one may leave: the case is gone from their pages.
    lead.post(reverse("casework:member_role", args=[case.pk, team["examiner"].pk]), {"role": "lead"})
    left = lead.post(reverse("casework:member_delete", args=[case.pk, team["lead"].pk]))
    assert left.status_code == 302
    assert left.url == reverse("casework:list")


def test_any_user_makes_a_case_with_a_scheme_and_leads_it(team, client_for):
    client = client_for(team["outsider"])
    form = client.get(reverse("casework:new"))
    assert form.status_code == 200
    for scheme in CategoryScheme.objects.all():
        assert scheme.name in form.text
    scheme = scheme_named(name=PROJECT_VIC)
    made = client.post(reverse("casework:new"), {"reference": " 2025-001 ", "title": "Op. <b>Bold</b>",
                                                 "description": "two phones", "scheme": scheme.pk})  # fmt: skip
    case = Case.objects.get(reference="2025-001")
    assert made.url == reverse("casework:detail", args=[case.pk])
    assert (case.scheme, case.owner, case.description) == (scheme, team["outsider"], "two phones")
    assert case.members.get().role == "lead"
    assert AuditEvent.objects.filter(action="case.create", target="2025-001", user_id=team["outsider"].pk).exists()

    # The new case renders with no job, its categories marked, its title escaped.
    page = client.get(made.url).text
    assert 'data-testid="no-jobs"' in page
    assert "Op. &lt;b&gt;Bold&lt;/b&gt;" in page
    assert "<b>Bold</b>" not in page
    assert page.count("needs confirmation</span>") == 2
    assert page.count("sensitive</span>") == 3
    assert 'data-category="5"' in page
    listed = client.get(reverse("casework:list")).text
    assert f'data-case="{case.pk}"' in listed

    for reference in ("2025-001", "job-12"):
        refused = client.post(reverse("casework:new"), {"reference": reference, "title": "x", "scheme": scheme.pk})
        assert refused.status_code == 200
        assert 'class="errorlist"' in refused.text
    assert Case.objects.filter(reference="job-12").count() == 0
    assert refusals(team["outsider"]) == ["case.create", "case.create"]


def test_the_lead_edits_the_title_and_description(case, team, client_for):
    lead = client_for(team["lead"])
    saved = lead.post(reverse("casework:edit", args=[case.pk]), {"title": "Op. Renamed", "description": "moved"})
    assert saved.status_code == 302
    case.refresh_from_db()
    assert (case.title, case.description) == ("Op. Renamed", "moved")
    assert AuditEvent.objects.get(action="case.update").detail == "title, description"
    assert lead.post(reverse("casework:edit", args=[case.pk]), {"title": "", "description": ""}).status_code == 200
    case.refresh_from_db()
    assert case.title == "Op. Renamed"


def test_the_overview_counts_the_review_and_shows_the_lead_what_waits(case, team, client_for):
    phone = add_job(case, "phone", range(1, 5), exhibit="EX-1 phone")
    laptop = add_job(case, "laptop", range(4, 7), exhibit="EX-2 laptop")  # image 4 is on both
    # bob proposes category 1 (four eyes) for images 1, 2 and 5; dave, another examiner, puts 5 over image 2,
    # which leaves it disputed; alice marks image 6 reviewed.
    case_member_set(case=case, user=team["outsider"], role="examiner")
    category_set(case=case, user=team["examiner"], code="1", image_ids=[image_id(1), image_id(2), image_id(5)])
    category_set(case=case, user=team["outsider"], code="5", image_ids=[image_id(2)])
    reviewed_mark(case=case, user=team["lead"], image_ids=[image_id(6)])

    lead = client_for(team["lead"])
    page = lead.get(reverse("casework:detail", args=[case.pk])).text
    assert 'data-field="reviewed">4<' in page
    assert 'data-field="total">6<' in page  # distinct images of both jobs
    assert 'data-field="last_hour">4<' in page
    assert 'bob@example.org</td><td class="num">3<' in page
    assert "EX-1 phone" in page
    assert "EX-2 laptop" in page
    assert reverse("jobs:gallery", args=[phone.pk]) in page
    assert reverse("jobs:gallery", args=[laptop.pk]) in page
    assert 'data-field="disputes">1<' in page
    assert 'data-field="proposals">2<' in page
    disputed = page.split('data-testid="disputes"')[1].split("</table>")[0]
    assert f'href="{reverse("jobs:gallery", args=[phone.pk])}#image-{image_id(2)}"' in disputed
    waiting = page.split('data-testid="proposals"')[1].split("</table>")[0]
    assert f'href="{reverse("jobs:gallery", args=[phone.pk])}#image-{image_id(1)}"' in waiting
    assert f'href="{reverse("jobs:gallery", args=[laptop.pk])}#image-{image_id(5)}"' in waiting
    assert 'data-testid="disputes"' in client_for(team["staff"]).get(reverse("casework:detail", args=[case.pk])).text
    for role in ("examiner", "reviewer"):
        seen = client_for(team[role]).get(reverse("casework:detail", args=[case.pk])).text
        assert 'data-field="reviewed">4<' in seen
        assert 'data-testid="disputes"' not in seen, role

    listed = lead.get(reverse("casework:list")).text
    row = listed.split(f'data-case="{case.pk}"')[1].split("</tr>")[0]
    assert 'data-field="jobs">2<' in row
    assert 'data-field="reviewed">4 / 6<' in row
    assert 'data-field="role">lead<' in row
    assert 'data-field="role">staff<' in client_for(team["staff"]).get(reverse("casework:list")).text


def test_single_job_cases_are_listed_on_request(team, client_for):
    _, job = case_of_its_own(
        title="usb", owner=team["lead"], make=lambda case: Job.objects.create(name="usb", source_path="/u", case=case)
    )
    client = client_for(team["lead"])
    assert f'data-case="{job.case_id}"' not in client.get(reverse("casework:list")).text
    assert f'data-case="{job.case_id}"' in client.get(reverse("casework:list") + "?single=1").text


def test_a_post_without_the_csrf_token_is_refused(case, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team["lead"])
    assert client.post(reverse("casework:edit", args=[case.pk]), {"title": "x"}).status_code == 403
    assert client.post(reverse("casework:new"), {"reference": "2025-9", "title": "x"}).status_code == 403
    case.refresh_from_db()
    assert case.title == "Op. Example"


@pytest.mark.browser
@pytest.mark.integration
def test_a_lead_makes_a_case_and_adds_a_member_in_the_browser(asgi_server, team, transactional_db, page):
    server = asgi_server()
    sign_in_browser(page.context, server, team["lead"])
    page.goto(f"{server.url}/jobs/")
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_test_id("new-case").click()
    page.fill("input[name=reference]", "2025-042")
    page.fill("input[name=title]", "Op. Harbour")
    page.select_option("select[name=scheme]", label=PROJECT_VIC)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("h1")).to_have_text("Op. Harbour")
    expect(page.get_by_test_id("categories")).to_contain_text("Child abuse material")
    expect(page.get_by_test_id("no-jobs")).to_be_visible()
    form = page.get_by_test_id("member-form")
    form.locator("input[name=email]").fill("carol@example.org")
    form.locator("select[name=role]").select_option("examiner")
    form.get_by_role("button", name="Add").click()
    expect(page.locator(f'tr[data-member="{team["reviewer"].pk}"] select')).to_have_value("examiner")
    page.locator(f'tr[data-member="{team["lead"].pk}"]').get_by_role("button", name="remove").click()
    expect(page.get_by_test_id("member-error")).to_contain_text("must keep a lead")
    screenshot(page, "case-page")


@pytest.mark.parametrize("item_id", [0, 2**31, 2**63, 10**30])
def test_case_urls_take_any_id(case, team, client_for, item_id):
    lead = client_for(team["lead"])
    assert lead.get(reverse("casework:detail", args=[item_id])).status_code == 404
    assert lead.post(reverse("casework:edit", args=[item_id]), POSTED).status_code == 404
    for name in ("member_role", "member_delete"):
        assert lead.post(reverse(f"casework:{name}", args=[case.pk, item_id]), POSTED).status_code == 404
    assert lead.get(reverse("casework:list"), {"page": str(item_id), "single": "x"}).status_code == 200
