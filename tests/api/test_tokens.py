"""API tokens: made on the signed-in user's page (shown once, only a hash kept) and by `manage.py token`; each user
sees and revokes only their own; the token authenticates exactly its user."""

from __future__ import annotations

import getpass
import hashlib
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from api.services import api_token_authenticate, api_token_create
from audit.models import AuditEvent


@pytest.fixture
def users(db):
    make = get_user_model().objects.create_user
    return make("alice", "alice@example.org", "pw"), make("bob", "bob@example.org", "pw")


def test_the_tokens_page_shows_a_new_token_once_and_keeps_only_its_hash(users, client):
    alice, _ = users
    client.force_login(alice)
    page = client.get(reverse("api:tokens"))
    assert page.status_code == 200
    assert reverse("api:tokens") in client.get(reverse("jobs:list")).text  # in the user's menu

    made = client.post(reverse("api:tokens"), {"name": "laptop"})
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    token = made.context["created"]
    assert token.startswith("isk_")
    assert token in made.text
    record = ApiToken.objects.get(user=alice)
    assert (record.name, record.digest) == ("laptop", hashlib.sha256(token.encode()).hexdigest())
    assert token.startswith(record.prefix + "_")
    assert token not in str(ApiToken.objects.values_list().get())  # the secret is stored nowhere
    assert api_token_authenticate(token=token).user == alice

    again = client.get(reverse("api:tokens"))
    assert token not in again.text
    assert record.prefix in again.text


def test_a_user_revokes_only_their_own_tokens(users, client):
    alice, bob = users
    mine, token = api_token_create(user=alice, name="mine")
    theirs, _ = api_token_create(user=bob, name="theirs")
    client.force_login(alice)
    assert theirs.prefix not in client.get(reverse("api:tokens")).text
    assert client.post(reverse("api:revoke", args=[theirs.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert client.post(reverse("api:revoke", args=[mine.pk])).status_code == 302
    assert not ApiToken.objects.filter(pk=mine.pk).exists()
    assert api_token_authenticate(token=token) is None
    assert client.get(reverse("api:revoke", args=[theirs.pk])).status_code == 405


def test_the_tokens_page_needs_sign_in_and_csrf(users):
    alice, _ = users
    anonymous = Client()
    assert anonymous.get(reverse("api:tokens")).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("api:tokens"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_manage_py_token_creates_lists_and_revokes(users):
    alice, _ = users
    out = io.StringIO()
    call_command("token", "create", "alice@example.org", "--name", "ops", stdout=out)
    token = out.getvalue().strip()
    assert api_token_authenticate(token=token).user == alice
    listing = io.StringIO()
    call_command("token", "list", stdout=listing)
    prefix = ApiToken.objects.get().prefix
    assert prefix in listing.getvalue()
    assert token not in listing.getvalue()
    call_command("token", "revoke", prefix, stdout=io.StringIO())
    assert api_token_authenticate(token=token) is None
    # Recorded as done at the command line, by the operating-system user who ran it, for alice.
    logged = AuditEvent.objects.order_by("id")
    assert [(e.via, e.action, e.target) for e in logged] == [
        ("cli", "token.create", f"{prefix} for user {alice.pk} (alice@example.org)"),
        ("cli", "token.revoke", f"{prefix} for user {alice.pk} (alice@example.org)"),
    ]
    assert {e.client for e in logged} == {f"os user {getpass.getuser()}"}
    alice.is_active = False
    alice.save()
    with pytest.raises(Exception, match="deactivated"):
        call_command("token", "create", "alice", stdout=io.StringIO())
