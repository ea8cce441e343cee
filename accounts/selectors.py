"""Account reads: who is signed in (for the header) and the staff's list of users."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import Count, QuerySet


@dataclass(frozen=True)
class Identity:
    """How a user is shown: a name, initials, and the picture their sign-in provider gave, if any."""

    name: str
    initials: str
    avatar_url: str


def _initials(text: str) -> str:
    words = [w for w in text.replace(".", " ").replace("_", " ").split() if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def user_identity(*, user: AbstractUser) -> Identity:
    name = user.get_full_name() or user.email or user.get_username()
    avatar = ""
    for account in SocialAccount.objects.filter(user=user).order_by("-last_login"):
        avatar = account.get_avatar_url() or ""
        if avatar.startswith("https://"):
            break
        avatar = ""
    return Identity(
        name=name, initials=_initials(user.get_full_name() or (user.email or "").split("@")[0]), avatar_url=avatar
    )


def user_list() -> QuerySet[AbstractUser]:
    return get_user_model().objects.annotate(job_count=Count("jobs")).order_by("email", "id")
