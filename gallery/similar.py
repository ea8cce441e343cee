"""The gallery's "Similar" pane: an image's exact duplicates (its other paths) and near-duplicates (PDQ,
jobs.similar) in the jobs the user may see, each with its distance and job, linked to that job's gallery."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs.models import Job
from jobs.progress.snapshot import job_stage_gaps
from jobs.similar import STAGE, job_groups, similar_for_user
from jobs.veils import veils_for
from jobs.views import image_or_404, job_or_404


def stack_sizes(*, job: Job, image_ids: list[int]) -> dict[int, int]:
    """Of `image_ids`, the keys of near-duplicate groups, each with how many images its group holds."""
    groups = job_groups(job=job).group
    keys = {i for i in image_ids if groups.get(i) == i}
    sizes: dict[int, int] = dict.fromkeys(keys, 0)
    for key in groups.values():
        if key in sizes:
            sizes[key] += 1
    return sizes


@require_GET
def similar_pane(request: HttpRequest, job_id: int, image_id: int) -> HttpResponse:
    job = job_or_404(request, job_id)
    image_or_404(job, image_id, "image.similar")
    similar = similar_for_user(user=request.user, job=job, image_id=image_id)
    return render(
        request,
        "gallery/_similar.html",
        {
            "job": job,
            "image_id": image_id,
            "similar": similar,
            "veils": veils_for(
                user=request.user, image_ids=[n.image_id for n in similar.near], jobs=[n.job_id for n in similar.near]
            ),
            "gap": job_stage_gaps(job=job, stages=(STAGE,)).get(STAGE, ""),
        },
    )
