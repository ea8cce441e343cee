"""Template filters for showing evidence facts."""

from __future__ import annotations

from django import template

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
