"""Template filters for showing review decisions on tiles."""

from __future__ import annotations

from django import template

from review.selectors import Decision

register = template.Library()


@register.filter
def decision_of(decisions: dict[int, Decision], image_id: int) -> Decision:
    """The decision about an image (an empty one when the case records none)."""
    return decisions.get(image_id) or Decision()
