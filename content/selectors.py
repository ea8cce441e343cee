"""Reads of the content store that need nothing but it: what the stages found in a set of images."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count

from content.models import Classification, ForensicFlags, StageResult


def image_ml_summaries(*, image_ids: Iterable[int], versions: Mapping[str, str]) -> dict[int, dict[str, Any]]:
    """image id -> {"faces": how many faces, "tags": "label; label; ..."} from the stage versions a job ran.
    A value is None when that stage has no DONE result for the image (not run, unavailable, failed), so that
    "no faces found" (0) and "not analysed" (None) never look alike."""
    ids = list(image_ids)
    summaries: dict[int, dict[str, Any]] = {i: {"faces": None, "tags": None} for i in ids}
    if not ids:
        return summaries
    if "faces" in versions:
        faces = (
            StageResult.objects.filter(
                image_id__in=ids, stage="faces", extractor_version=versions["faces"], status=StageResult.Status.DONE
            )
            .annotate(found=Count("faces"))
            .values_list("image_id", "found")
        )
        for image_id, found in faces:
            summaries[image_id]["faces"] = found
    if "classify" in versions:
        tags = Classification.objects.filter(
            image_id__in=ids, result__extractor_version=versions["classify"]
        ).values_list("image_id", "tags")
        for image_id, image_tags in tags:
            summaries[image_id]["tags"] = "; ".join(tag["label"] for tag in image_tags)
    return summaries


def image_forensic_flags(*, image_ids: Iterable[int], version: str) -> dict[int, tuple[list[dict[str, Any]], str]]:
    """image id -> (the forensic stage's flags, the DateTimeOriginal it read) from that stage version; an image
    without a result of it is left out ("not analysed", never "no flags")."""
    ids = list(image_ids)
    if not ids or not version:
        return {}
    rows = ForensicFlags.objects.filter(image_id__in=ids, result__extractor_version=version)
    return {image_id: (flags, taken) for image_id, flags, taken in rows.values_list("image_id", "flags", "taken")}
