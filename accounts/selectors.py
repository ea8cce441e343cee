"""Account reads: who is signed in (for the header), whether an address is verified, and the staff's list of users."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import Count, QuerySet

from jobs.access import verified_address_owners


@dataclass(frozen=True)
class Identity:
    """How a user is shown: a name, initials, and the picture their sign-in provider gave, if any."""

    name: str
    initials: str
    avatar_url: str


# Where GitHub ("avatar_url") and Google ("picture") put the profile picture in the profile they return.
_AVATAR_FIELDS = ("avatar_url", "picture")


def _initials(text: str) -> str:
    words = [w for w in text.replace(".", " ").replace("_", " ").split() if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def user_identity(*, user: AbstractUser) -> Identity:
    name = user.get_full_name() or user.email or user.get_username()
    avatar = ""
    # Read from the stored profile rather than through the provider: an account of a provider that is no longer
    # configured must not break every page.
    for extra in SocialAccount.objects.filter(user=user).order_by("-last_login").values_list("extra_data", flat=True):
        url = next((extra[f] for f in _AVATAR_FIELDS if isinstance(extra, dict) and extra.get(f)), "")
        if isinstance(url, str) and url.startswith("https://"):
            avatar = url
            break
    initials = _initials(user.get_full_name() or (user.email or "").split("@")[0])
    return Identity(name=name, initials=initials, avatar_url=avatar)


def user_list() -> QuerySet[AbstractUser]:
    return get_user_model().objects.annotate(job_count=Count("jobs")).order_by("email", "id")


def email_is_verified(*, user: AbstractUser, email: str) -> bool:
    """Whether `email` (any case) is one of `user`'s addresses and its owner followed the link sent to it."""
    return verified_address_owners(email=email).filter(pk=user.pk).exists()
