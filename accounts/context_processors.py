"""The signed-in user's name and avatar, and whether Flower is reached here, for the header on every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.selectors import user_identity


def header(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"identity": user_identity(user=user), "flower": bool(settings.FLOWER_URL) and user.is_staff}
