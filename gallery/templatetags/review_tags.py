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


@register.simple_tag
def veil(veils, case_id: int, image_id: int) -> str:
    """The veil classes of a picture of a case (jobs.veils.Veils): "veiled", "greyed", both or none."""
    return veils.classes(case_id, image_id)


@register.simple_tag
def veil_in_job(veils, job_id: int, image_id: int) -> str:
    """The veil classes of a picture of a job (jobs.veils.Veils)."""
    return veils.of_job(job_id, image_id)


@register.simple_tag
def veil_of_face(veils, case_id: int, face_id: int) -> str:
    """The veil classes of a face's picture in a case (jobs.veils.Veils)."""
    return veils.of_face(case_id, face_id)
