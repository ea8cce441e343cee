"""Email addresses count only once verified: an address someone merely claims (a colleague's who has no account yet,
or another user's) never becomes their primary address, never receives a share, and never names them in a job's
history."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import CaseMember
from jobs.models import FileInstance
from jobs.services import job_create
from tests.support.cases import make_case
from tests.support.web import PASSWORD

pytestmark = pytest.mark.integration


def add_and_make_primary(client, email: str) -> None:
    """What a user does on the email page to make `email` the address of their account."""
    client.post(reverse("account_email"), {"action_add": "", "email": email})
    client.post(reverse("account_email"), {"action_primary": "", "email": email})


@pytest.mark.parametrize("own_address_verified", [True, False])
def test_a_claimed_address_never_becomes_the_account_nor_receives_shares(
    scan, other, make_user, client_for, own_address_verified
):
    """Mallory claims the address of a colleague who has not signed up yet, and the address of an existing user;
    neither becomes hers. Also when she has a session but no verified address of her own (the worst case: a
    session from before verification was required)."""
    mallory = get_user_model().objects.create_user(username="mallory", email="mallory@lab.example", password="x" * 20)
    EmailAddress.objects.create(user=mallory, email=mallory.email, primary=True, verified=own_address_verified)
    victim = make_user("dave@example.org")
    attacker = client_for(mallory)
    job = scan(other)
    original = FileInstance.objects.filter(job=job, status="image").first()

    claimed = ["carol@example.org", victim.email]
    for address in claimed:
        add_and_make_primary(attacker, address)
        mallory.refresh_from_db()
        assert mallory.email not in claimed
        assert not EmailAddress.objects.filter(user=mallory, email=address, primary=True).exists()
        assert not EmailAddress.objects.filter(user=mallory, email=address, verified=True).exists()
    if own_address_verified:
        assert mallory.email == "mallory@lab.example"

    owner = client_for(other)
    refused = owner.post(reverse("jobs:share", args=[job.pk]), {"email": "carol@example.org", "role": "full"})
    assert refused.status_code == 302
    assert not CaseMember.objects.exclude(user=other).exists()
    owner.post(reverse("jobs:share", args=[job.pk]), {"email": victim.email, "role": "full"})
    assert list(CaseMember.objects.exclude(user=other).values_list("user_id", flat=True)) == [victim.pk]

    assert attacker.get(reverse("jobs:detail", args=[job.pk])).status_code == 404
    assert attacker.get(reverse("jobs:original", args=[job.pk, original.pk])).status_code == 404
    # The history names Mallory by her own address only, and the share by the id of the user who got it.
    history = owner.get(reverse("jobs:detail", args=[job.pk])).text
    assert "carol@example.org" not in history
    assert not AuditEvent.objects.filter(user_id=mallory.pk, username__in=claimed).exists()
    # What she tried is on record as hers: each address added as a claim, each primary refused, each job refused.
    mine = AuditEvent.objects.filter(user_id=mallory.pk).order_by("id")
    assert [(e.action, e.outcome, e.detail.split()[0]) for e in mine if e.action.startswith("user.email")] == [
        ("user.email.add", "ok", "carol@example.org"),
        ("user.email", "refused", "carol@example.org"),
        ("user.email.add", "ok", victim.email),
        ("user.email", "refused", victim.email),
    ]
    assert [e.action for e in mine.filter(outcome="refused", job_id=job.pk)] == ["job.view", "job.view"]
    assert not AuditEvent.objects.filter(username="carol@example.org").exists()
    assert not AuditEvent.objects.filter(username=victim.email).exclude(user_id=victim.pk).exists()
    share = AuditEvent.objects.get(action="job.share")
    assert share.target == f"user {victim.pk} ({victim.email})"


@pytest.mark.django_db
def test_a_share_reaches_only_the_user_who_verified_the_address(other, make_user, client_for, sources_root):
    """An account whose email is an address it never verified (made primary, or signed up with, before addresses
    had to be verified) receives no share addressed to it; the user who verified the address does."""
    make_case(sources_root / "case")
    job = job_create(name="case", source_path=sources_root / "case", owner=other, within=sources_root)
    claimant = get_user_model().objects.create_user(username="mallory", email="carol@example.org")
    EmailAddress.objects.create(user=claimant, email="carol@example.org", primary=True, verified=False)
    owner = client_for(other)

    owner.post(reverse("jobs:share", args=[job.pk]), {"email": "Carol@example.org", "role": "full"})
    assert not CaseMember.objects.exclude(user=other).exists()
    carol = make_user("carol@lab.example")
    EmailAddress.objects.create(user=carol, email="carol@example.org", verified=True)
    owner.post(reverse("jobs:share", args=[job.pk]), {"email": "Carol@example.org", "role": "full"})
    assert list(CaseMember.objects.exclude(user=other).values_list("user_id", flat=True)) == [carol.pk]


@pytest.mark.django_db
def test_the_upgrade_undoes_what_unverified_addresses_did(make_user, client_for):
    """Accounts that made an unverified address primary before addresses had to be verified get their verified one
    back; those with none are signed out, to verify one at their next sign-in."""
    claimed = make_user("mallory@lab.example")
    EmailAddress.objects.filter(user=claimed).update(primary=False)
    EmailAddress.objects.create(user=claimed, email="carol@example.org", primary=True, verified=False)
    get_user_model().objects.filter(pk=claimed.pk).update(email="carol@example.org")
    never_verified = get_user_model().objects.create_user(username="eve", email="dave@example.org")
    EmailAddress.objects.create(user=never_verified, email="dave@example.org", primary=True, verified=False)
    honest = make_user("alice@example.org")
    sessions = {user.pk: client_for(user) for user in (claimed, never_verified, honest)}

    upgrade = import_module("accounts.migrations.0001_only_verified_addresses_count")
    upgrade.only_verified_addresses_count(apps, None)

    claimed.refresh_from_db()
    assert claimed.email == "mallory@lab.example"
    assert EmailAddress.objects.get(user=claimed, primary=True).email == "mallory@lab.example"
    assert sessions[never_verified.pk].get(reverse("jobs:list")).status_code == 302
    assert sessions[honest.pk].get(reverse("jobs:list")).status_code == 200
    assert sessions[claimed.pk].get(reverse("jobs:list")).status_code == 200


@pytest.mark.django_db
def test_a_new_address_replaces_the_old_once_verified(examiner, client_for, mailoutbox):
    alice = client_for(examiner)
    alice.post(reverse("account_email"), {"action_add": "", "email": "alice@lab.example"})
    examiner.refresh_from_db()
    assert examiner.email == "alice@example.org"  # until the new address is verified
    [link] = re.findall(r"https?://testserver(/\S+)", mailoutbox[-1].body)
    alice.post(link)
    examiner.refresh_from_db()
    assert examiner.email == "alice@lab.example"
    assert list(EmailAddress.objects.filter(user=examiner).values_list("email", "primary", "verified")) == [
        ("alice@lab.example", True, True)
    ]
    changed = AuditEvent.objects.get(action="user.email")
    assert (changed.user_id, changed.detail) == (examiner.pk, "alice@example.org -> alice@lab.example")


@pytest.mark.django_db
def test_the_admin_signs_in_nobody_without_a_verified_address(client, make_user):
    """The admin's sign-in page is allauth's: a staff member whose address is not verified gets no session by
    posting their password to /admin/login/, and is sent to the sign-in page that asks for the verification."""
    staff = make_user("staff@example.org", staff=True, superuser=True)
    EmailAddress.objects.filter(user=staff).update(verified=False)
    response = client.post(reverse("admin:login"), {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302
    client.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session  # allauth's sign-in sends the verification link instead


def test_a_provider_saying_it_verified_a_users_address_does_not_sign_in_as_them(client, make_user, settings, mocker):
    """GitHub is configured and answers (mocked: it cannot be reached from here) for a GitHub account that claims,
    as verified, the address of an existing user. That signs nobody in as the user, and with sign-up closed makes
    no account either."""
    from allauth.socialaccount.models import SocialAccount
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter

    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {"APPS": [{"client_id": "lab-client-id", "secret": "s"}], "SCOPE": ["read:user", "user:email"]}
    }
    victim = make_user("dave@example.org")
    profile = {
        "id": 4242,
        "login": "mallory",
        "email": victim.email,
        "emails": [{"email": victim.email, "primary": True, "verified": True}],
    }
    mocker.patch.object(GitHubOAuth2Adapter, "get_access_token_data", autospec=True, return_value={"access_token": "t"})
    mocker.patch.object(
        GitHubOAuth2Adapter,
        "complete_login",
        autospec=True,
        side_effect=lambda adapter, request, app, token, **_: adapter.get_provider().sociallogin_from_response(
            request, profile
        ),
    )

    to_github = client.post(reverse("github_login"))
    [state] = re.findall(r"[?&]state=([^&]+)", to_github["Location"])
    client.get(reverse("github_callback"), {"code": "c", "state": state})

    assert client.get(reverse("jobs:list")).status_code == 302
    assert not SocialAccount.objects.exists()
    assert list(get_user_model().objects.all()) == [victim]
