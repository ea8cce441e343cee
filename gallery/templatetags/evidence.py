"""Template filters for showing evidence facts."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from evidence.display import display_text

register = template.Library()


@register.filter
def dms(value: float | None, axis: str) -> str:
    """A signed decimal degree as degrees, minutes and seconds (prime and double prime) with its hemisphere:
    51.5007, "lat" -> 51\u00b030\u20322.52\u2033 N."""
    if value is None:
        return ""
    hemisphere = ("N" if value >= 0 else "S") if axis == "lat" else ("E" if value >= 0 else "W")
    total = round(abs(value) * 3600, 2)
    degrees, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(degrees)}\u00b0{int(minutes)}\u2032{seconds:.2f}\u2033 {hemisphere}"


@register.filter
def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


@register.filter
def isolated(shown: str) -> SafeString:
    """Text already in its display form (a file's path as recorded, evidence.display) in a `<bdi>`: right-to-left
    text in it cannot reorder the page's own text around it ("view · download")."""
    return format_html("<bdi>{}</bdi>", shown)


@register.filter
def suspect(value: Any) -> SafeString:
    """Suspect text as recorded (an EXIF value, a camera's make or model) shown by the display rule
    (evidence.display: bidi and invisible characters as escapes) and `isolated`. None shows as nothing."""
    return isolated("" if value is None else display_text(str(value)))
