"""Times as pages show them: always with their zone, so that a time read off a screen or a screenshot is one moment."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def moment(value: datetime | None) -> str:
    """ "2024-05-04 10:30:00 +00:00 (UTC)": to the second, in the site's TIME_ZONE, with its UTC offset and the
    zone's name. "—" for no time."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    offset = local.isoformat()[-6:]
    return f"{local:%Y-%m-%d %H:%M:%S} {offset} ({local.tzname()})"
