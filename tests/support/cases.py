"""A case for the web tests: the sample evidence tree with as many more photos as a test needs, and the results
the ML stages would have stored for it."""

from __future__ import annotations

from pathlib import Path

from jobs.samples import Gps, exif_bytes, make_sample_tree, write_photo


def make_case(root: Path, extra: int = 0) -> dict[str, int]:
    """The sample evidence tree, plus `extra` small photos (every third with a GPS position) so that the gallery
    has several pages."""
    expected = make_sample_tree(root)
    for i in range(extra):
        gps = Gps(48.8584 + i / 1000, 2.2945 - i / 1000) if i % 3 == 0 else None
        exif = exif_bytes(make="Nikon", model="D750", taken=f"2022:0{i % 9 + 1}:1{i % 10} 08:00:00", gps=gps)
        write_photo(root / "bulk" / f"photo-{i:03d}.jpg", width=64 + (i % 5) * 16, height=48, seed=1000 + i, exif=exif)
    return {**expected, "files": expected["files"] + extra, "distinct": expected["distinct"] + extra}


def store_ml_results(job, *, faces: dict[int, int] | None = None, tags: dict[int, list[str]] | None = None) -> None:
    """Store what the faces and classify stages would have found, at the versions the job ran (without ML workers):
    `faces` is image id -> how many faces (0: analysed, none found), `tags` is image id -> labels, best first. Each
    face's crop is b"crop <image id> <index>"."""
    from content.services import stage_results_save
    from extractors.base import ItemResult, Outcome, Provenance
    from extractors.classify import ClassifyResult, Tag
    from extractors.faces import DetectedFace, FacesResult

    versions = job.run_config.versions
    embedding = bytes(4 * 512)
    landmarks = ((1.0, 1.0), (3.0, 1.0), (2.0, 2.0), (1.0, 3.0), (3.0, 3.0))
    found = [
        ItemResult(
            image_id,
            Outcome.DONE,
            FacesResult(
                tuple(
                    DetectedFace(8.0 * i, 4.0, 6.0, 6.0, 0.9, landmarks, embedding, f"crop {image_id} {i}".encode())
                    for i in range(count)
                )
            ),
        )
        for image_id, count in (faces or {}).items()
    ]
    stage_results_save(provenance=Provenance(stage="faces", version=versions["faces"]), results=found)
    classified = [
        ItemResult(
            image_id,
            Outcome.DONE,
            ClassifyResult(tags=tuple(Tag(label, 0.9 - i / 10) for i, label in enumerate(labels)), embedding=bytes(16)),
        )
        for image_id, labels in (tags or {}).items()
    ]
    stage_results_save(provenance=Provenance(stage="classify", version=versions["classify"]), results=classified)
