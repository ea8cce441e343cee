"""Writes of stage results. Idempotent by construction: every row is keyed by (image, stage, extractor version)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import transaction

from content.models import Classification, ExifData, Face, ForensicFlags, PdqHash, StageResult
from database.bulk import Row, bulk_insert
from extractors.base import ItemResult, Outcome, Provenance
from extractors.classify import ClassifyResult
from extractors.exif import ExifResult
from extractors.faces import FacesResult
from extractors.forensic import ForensicResult
from extractors.pdq import PdqResult


def _exif_rows(result_id: int, item: ItemResult) -> list[Row]:
    data: ExifResult = item.data
    return [
        {
            "result_id": result_id,
            "image_id": item.image_id,
            "tags": data.tags,
            "camera_make": data.camera_make[:200],
            "camera_model": data.camera_model[:200],
            "lens_model": data.lens_model[:200],
            "software": data.software[:200],
            "datetime_original": data.datetime_original,
            "orientation": data.orientation,
            "gps_lat": data.gps_lat,
            "gps_lon": data.gps_lon,
            "gps_alt": data.gps_alt,
            "gps_datetime": data.gps_datetime,
            "warnings": list(data.warnings),
        }
    ]


def _face_rows(result_id: int, item: ItemResult) -> list[Row]:
    """One row per face; none at all for an image without faces (its DONE StageResult records that)."""
    data: FacesResult = item.data
    return [
        {
            "result_id": result_id,
            "image_id": item.image_id,
            "index": index,
            "x": face.x,
            "y": face.y,
            "width": face.width,
            "height": face.height,
            "score": face.score,
            "landmarks": [list(point) for point in face.landmarks],
            "embedding": face.embedding,
            "crop": face.crop,
        }
        for index, face in enumerate(data.faces)
    ]


def _classification_rows(result_id: int, item: ItemResult) -> list[Row]:
    data: ClassifyResult = item.data
    return [
        {
            "result_id": result_id,
            "image_id": item.image_id,
            "tags": [{"label": tag.label, "score": tag.score} for tag in data.tags],
            "embedding": data.embedding,
            "embedding_dim": len(data.embedding) // 4,
            "caption": data.caption,
        }
    ]


def _forensic_rows(result_id: int, item: ItemResult) -> list[Row]:
    data: ForensicResult = item.data
    return [
        {
            "result_id": result_id,
            "image_id": item.image_id,
            "flags": list(data.flags),
            "taken": data.taken,
            "thumbnail_distance": data.thumbnail_distance,
            "xmp": data.xmp,
            "iptc": data.iptc,
            "c2pa": data.c2pa,
            "warnings": list(data.warnings),
        }
    ]


def _pdq_rows(result_id: int, item: ItemResult) -> list[Row]:
    data: PdqResult = item.data
    return [
        {
            "result_id": result_id,
            "image_id": item.image_id,
            "hash": data.hash,
            "quality": data.quality,
            "dihedral": data.dihedral,
        }
    ]


# stage -> (result model, function building its rows for one DONE item). A new stage adds one line here.
RESULT_ROWS: dict[str, tuple[type, Callable[[int, ItemResult], list[Row]]]] = {
    "exif": (ExifData, _exif_rows),
    "faces": (Face, _face_rows),
    "classify": (Classification, _classification_rows),
    "pdq": (PdqHash, _pdq_rows),
    "forensic": (ForensicFlags, _forensic_rows),
}


def stage_results_save(*, provenance: Provenance, results: Sequence[ItemResult]) -> None:
    """Store one stage's results for a batch. Saving the same results twice (a redelivered task, or two jobs that
    analysed the same content at once) leaves exactly one set of rows."""
    if not results:
        return
    stage, version = provenance.stage, provenance.version
    produced = {
        "stage": stage,
        "extractor_version": version,
        "model_name": provenance.model_name,
        "model_sha256": provenance.model_sha256,
        "params": dict(provenance.params),
    }
    with transaction.atomic():
        bulk_insert(
            StageResult,
            [
                {**produced, "image_id": item.image_id, "status": str(item.outcome), "error": item.error}
                for item in results
            ],
        )
        ids = dict(
            StageResult.objects.filter(
                image_id__any=[item.image_id for item in results], stage=stage, extractor_version=version
            ).values_list("image_id", "id")
        )
        if stage not in RESULT_ROWS:
            return  # a stage whose outcome is its status alone
        model, build = RESULT_ROWS[stage]
        bulk_insert(
            model, [row for item in results if item.outcome is Outcome.DONE for row in build(ids[item.image_id], item)]
        )
