"""Accounts: sign-up with the strong-password rule, email as the login, rate-limited sign-in, OAuth providers shown
only when configured, the avatar, and the staff's users page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import user_label
from cases.models import CaseMember
from cases.services import case_create, case_member_set
from jobs.models import Job
from jobs.services import job_create, job_share
from tests.support.cases import make_case
from tests.support.web import PASSWORD


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def signup_open(settings):
    """Self sign-up is closed unless ACCOUNT_SIGNUP_ENABLED opens it."""
    settings.ACCOUNT_SIGNUP_ENABLED = True


def sign_up(client: Client, email: str, password: str):
    return client.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1A!", "too short"),
        ("123456789012345", "entirely numeric"),
        ("password1234", "too common"),
        ("newcomer@lab.example", "too similar"),
    ],
)
def test_sign_up_refuses_weak_passwords(client, signup_open, password, why):
    response = sign_up(client, "newcomer@lab.example", password)
    assert response.status_code == 200
    assert why in response.text
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_sign_up_then_verify_then_sign_in_with_the_email_address(client, signup_open, mailoutbox):
    response = sign_up(client, "newcomer@lab.example", "tidal copper lantern 5")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = get_user_model().objects.get(email="newcomer@lab.example")
    assert not user.is_staff
    # Not signed in until the address is verified, with the password or without.
    assert client.get(reverse("jobs:list")).status_code == 302
    credentials = {"login": "newcomer@lab.example", "password": "tidal copper lantern 5"}
    assert client.post(reverse("account_login"), credentials)["Location"] == reverse("account_email_verification_sent")
    assert client.get(reverse("jobs:list")).status_code == 302

    [link] = re.findall(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[-1].body)
    client.post(urlsplit(link).path)
    verified = AuditEvent.objects.get(action="user.email.verify")
    assert (verified.target, verified.detail) == (f"user {user.pk}", "newcomer@lab.example")
    assert client.post(reverse("account_login"), credentials).status_code == 302
    assert client.get(reverse("jobs:list")).status_code == 200


@pytest.mark.django_db
def test_sign_up_does_not_tell_whether_an_address_has_an_account(client, signup_open, examiner, mailoutbox):
    taken = sign_up(client, examiner.email.upper(), "tidal copper lantern 5")
    fresh = sign_up(Client(), "newcomer@lab.example", "tidal copper lantern 5")
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    assert "already" not in client.get(taken["Location"]).text
    assert list(get_user_model().objects.filter(email__iexact=examiner.email)) == [examiner]
    # The address's owner is told by email instead; the newcomer gets the link to verify theirs.
    assert [m.to for m in mailoutbox] == [[examiner.email], ["newcomer@lab.example"]]
    assert "confirm-email" not in mailoutbox[0].body


@pytest.mark.django_db
def test_sign_up_is_closed_by_default(client):
    assert "Sign Up Closed" in client.get(reverse("account_signup")).text
    sign_up(client, "newcomer@lab.example", "tidal copper lantern 5")
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("open_", [False, True])
def test_sign_in_page_offers_sign_up_only_while_it_is_open(client, settings, open_):
    settings.ACCOUNT_SIGNUP_ENABLED = open_
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    assert (f'href="{reverse("account_signup")}' in page.text) is open_
    assert ("sign up" in page.text) is open_


@pytest.mark.django_db
def test_sign_in_is_rate_limited(client, examiner):
    for _ in range(5):
        response = client.post(reverse("account_login"), {"login": examiner.email, "password": "wrong password"})
        assert response.status_code == 200
    # Now even the right password is refused for a while.
    blocked = client.post(reverse("account_login"), {"login": examiner.email, "password": PASSWORD})
    assert "Too many failed login attempts" in blocked.text
    assert client.get(reverse("jobs:list")).status_code == 302


@pytest.mark.django_db
def test_oauth_providers_are_shown_only_when_configured(client, settings):
    login = reverse("account_login")
    settings.SOCIALACCOUNT_PROVIDERS = {}
    page = client.get(login).text
    assert "GitHub" not in page
    assert "Google" not in page
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {"APPS": [{"client_id": "lab-client-id", "secret": "s"}], "SCOPE": ["read:user", "user:email"]}
    }
    page = client.get(login).text
    assert "Continue with GitHub" in page
    assert "Google" not in page
    # Signing in with GitHub sends the browser to GitHub with the lab's client id (the provider itself is not
    # reachable from here).
    redirect = client.post(reverse("github_login"))
    assert redirect.status_code == 302
    assert redirect["Location"].startswith("https://github.com/login/oauth/authorize?")
    assert "client_id=lab-client-id" in redirect["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["github", "google"])
def test_the_pages_of_a_provider_not_configured_do_not_exist(client, examiner, client_for, settings, provider):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    login, callback = reverse(f"{provider}_login"), reverse(f"{provider}_callback")
    for visitor in (client, client_for(examiner)):
        assert visitor.get(login).status_code == 404
        assert visitor.post(login).status_code == 404
        assert visitor.get(callback, {"code": "c", "state": "s"}).status_code == 404


@pytest.mark.django_db
def test_the_header_shows_the_providers_picture_else_initials(examiner, client_for):
    examiner.first_name, examiner.last_name = "Alice", "Moreau"
    examiner.save()
    page = client_for(examiner).get(reverse("jobs:list")).text
    assert '<span class="avatar initials" title="Alice Moreau">AM</span>' in page
    SocialAccount.objects.create(
        user=examiner,
        provider="github",
        uid="42",
        extra_data={"avatar_url": "https://avatars.githubusercontent.com/u/42"},
    )
    page = client_for(examiner).get(reverse("jobs:list")).text
    assert 'src="https://avatars.githubusercontent.com/u/42"' in page


@pytest.mark.django_db
def test_the_users_page_is_for_staff_only(examiner, client_for):
    response = client_for(examiner).get(reverse("accounts:users"))
    assert response.status_code == 404
    assert client_for(examiner).post(reverse("accounts:delete", args=[examiner.pk])).status_code == 404


@pytest.mark.django_db
def test_staff_deactivate_a_user_who_then_cannot_sign_in(examiner, make_user, client_for):
    staff = client_for(make_user("lead@example.org", staff=True))
    page = staff.get(reverse("accounts:users")).text
    assert examiner.email in page
    assert staff.post(reverse("accounts:active", args=[examiner.pk]), {"active": "0"}).status_code == 302
    examiner.refresh_from_db()
    assert not examiner.is_active
    fresh = Client()
    fresh.post(reverse("account_login"), {"login": examiner.email, "password": PASSWORD})
    assert fresh.get(reverse("jobs:list")).status_code == 302
    staff.post(reverse("accounts:active", args=[examiner.pk]), {"active": "1"})
    examiner.refresh_from_db()
    assert examiner.is_active


@pytest.mark.django_db
def test_deleting_the_last_lead_of_a_case_hands_the_lead_to_the_staff_member(examiner, other, make_user, client_for):
    lead = make_user("lead@example.org", staff=True)
    led = case_create(reference="2024-017", title="Op. Example", owner=examiner)
    case_member_set(case=led, user=other, role="examiner")
    shared = case_create(reference="2024-018", title="Op. Other", owner=other)
    case_member_set(case=shared, user=examiner, role="lead")

    assert client_for(lead).post(reverse("accounts:delete", args=[examiner.pk])).status_code == 302
    assert not get_user_model().objects.filter(pk=examiner.pk).exists()
    assert dict(led.members.values_list("user", "role")) == {lead.pk: "lead", other.pk: "examiner"}
    assert dict(shared.members.values_list("user", "role")) == {other.pk: "lead"}  # bob leads it still
    alice = f"user {examiner.pk} (alice@example.org)"
    said = AuditEvent.objects.filter(action__startswith="case.member", user_id=lead.pk).order_by("id")
    assert [(e.action, e.target, e.detail) for e in said] == [
        ("case.member.set", "2024-017", f"user {lead.pk} (lead@example.org): lead"),
        ("case.member.remove", "2024-017", f"{alice}: account deleted"),
        ("case.member.remove", "2024-018", f"{alice}: account deleted"),
    ]


@pytest.mark.django_db
def test_deleting_a_user_hands_their_jobs_to_the_staff_member(examiner, other, make_user, client_for, sources_root):
    make_case(sources_root / "case")
    lead = make_user("lead@example.org", staff=True)
    owned = job_create(name="alice's", source_path=sources_root / "case", owner=examiner, within=sources_root)
    shared = job_create(name="bob's", source_path=sources_root / "case", owner=other, within=sources_root)
    job_share(job=shared, user=examiner, role="full")
    staff = client_for(lead)

    confirm = staff.get(reverse("accounts:delete", args=[examiner.pk])).text
    assert "1</strong> jobs" in confirm
    assert staff.post(reverse("accounts:delete", args=[examiner.pk])).status_code == 302
    assert not get_user_model().objects.filter(pk=examiner.pk).exists()
    assert Job.objects.get(pk=owned.pk).owner == lead  # nothing found by the job is lost
    assert Job.objects.get(pk=shared.pk).owner == other
    # Her memberships went with her; the job she owned is the staff member's, who leads its case now.
    assert set(CaseMember.objects.values_list("case__jobs", "user", "role")) == {
        (owned.pk, lead.pk, "lead"), (shared.pk, other.pk, "lead")
    }  # fmt: skip
    # Each job's history says so, as done by the staff member.
    said = AuditEvent.objects.filter(user_id=lead.pk).exclude(action="sign-in").order_by("id")
    alice, now = f"user {examiner.pk} (alice@example.org)", f"user {lead.pk} (lead@example.org)"
    assert [(e.action, e.job_id, e.detail) for e in said] == [
        ("job.owner", owned.pk, f"{alice} deleted: now {now}'s"),
        ("case.member.set", None, f"{now}: lead"),
        ("case.member.remove", None, f"{alice}: no longer owns job {owned.pk}"),
        ("case.member.remove", None, f"{alice}: account deleted"),
        ("job.unshare", shared.pk, "the account was deleted"),
        ("user.delete", None, ""),
    ]
    # Staff cannot delete themselves, and only a superuser may delete a superuser.
    assert staff.post(reverse("accounts:delete", args=[lead.pk])).status_code == 302
    assert get_user_model().objects.filter(pk=lead.pk).exists()
    root = make_user("root@example.org", staff=True, superuser=True)
    staff.post(reverse("accounts:delete", args=[root.pk]))
    assert get_user_model().objects.filter(pk=root.pk).exists()


def link_in(message) -> str:
    """The path of the one link to this web app in an email."""
    [link] = re.findall(r"https?://testserver(/\S+)", message.body)
    return link


@pytest.mark.django_db
def test_staff_invite_a_user_who_chooses_a_password_then_verifies_the_address(
    examiner, make_user, client_for, mailoutbox
):
    lead = make_user("lead@example.org", staff=True)
    staff = client_for(lead)
    assert 'data-testid="invite"' in staff.get(reverse("accounts:users")).text
    assert client_for(examiner).post(reverse("accounts:invite"), {"email": "new@lab.example"}).status_code == 404
    assert not get_user_model().objects.filter(email="new@lab.example").exists()

    # Another user claiming the address first (adding it, unverified, to their account) does not stop the invitation.
    client_for(examiner).post(reverse("account_email"), {"action_add": "", "email": "new@lab.example"})
    mailoutbox.clear()
    assert staff.post(reverse("accounts:invite"), {"email": "New@Lab.example"}).status_code == 302
    invited = get_user_model().objects.get(email="new@lab.example")
    assert not invited.has_usable_password()
    event = AuditEvent.objects.get(action="user.invite")
    assert (event.user_id, event.target) == (lead.pk, f"user {invited.pk} (new@lab.example)")
    [invitation] = mailoutbox
    assert invitation.to == ["new@lab.example"]
    # An address an account verified is not invited.
    staff.post(reverse("accounts:invite"), {"email": examiner.email.upper()})
    assert len(mailoutbox) == 1
    assert AuditEvent.objects.filter(action="user.invite").count() == 1

    newcomer = Client()
    form = newcomer.get(link_in(invitation), follow=True)
    password = "tidal copper lantern 5"
    newcomer.post(form.redirect_chain[-1][0], {"password1": password, "password2": password})
    invited.refresh_from_db()
    assert invited.check_password(password)
    credentials = {"login": "new@lab.example", "password": password}
    cache.clear()  # the claim's verification mail started allauth's cooldown on mail to that address (3 minutes)
    assert newcomer.post(reverse("account_login"), credentials)["Location"] == reverse(
        "account_email_verification_sent"
    )
    newcomer.post(link_in(mailoutbox[-1]))
    assert newcomer.post(reverse("account_login"), credentials).status_code == 302
    assert newcomer.get(reverse("jobs:list")).status_code == 200


@pytest.mark.django_db
def test_an_account_that_never_verified_its_address_does_not_stop_its_owner_s_invitation(make_user, client_for):
    """Someone signed up with a colleague's address long ago and never verified it (the account's email, a claim):
    the colleague is still invited, and their own verification is what makes the address theirs."""
    squatter = get_user_model().objects.create_user(username="squatter", email="dana@lab.example", password="x" * 20)
    EmailAddress.objects.create(user=squatter, email=squatter.email, primary=True, verified=False)
    staff = client_for(make_user("lead@example.org", staff=True))
    assert staff.post(reverse("accounts:invite"), {"email": "Dana@lab.example"}).status_code == 302
    invited = AuditEvent.objects.get(action="user.invite")
    assert invited.target != user_label(squatter)
    assert get_user_model().objects.filter(email="dana@lab.example").count() == 2
