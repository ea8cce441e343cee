"""Template filters for showing review decisions on tiles."""

from __future__ import annotations

from django import template

from review.selectors import Decision

register = template.Library()


@register.filter
def decision_of(decisions: dict[int, Decision], image_id: int) -> Decision:
    """The decision about an image (an empty one when the case records none)."""
    return decisions.get(image_id) or Decision()


@register.filter
def stack_of(stacks: dict[int, int], image_id: int) -> int:
    """How many images a stacked tile stands for (0: not a stack)."""
    return stacks.get(image_id, 0)
