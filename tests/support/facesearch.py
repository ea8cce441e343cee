"""Face search tests: real photographs that installed packages ship (with augmented copies of them, as the same
people), and the faces the real default pack finds in a job's images, stored as the faces stage would."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageEnhance

from jobs.samples import PACKAGED_PHOTOS, PACKAGED_PHOTOS_WITHOUT_PEOPLE, packaged_photo


def photo(name: str) -> Image.Image:
    """A packaged photograph by its sample-folder name ("people/astronaut.png"), as RGB."""
    package, relative = {**PACKAGED_PHOTOS, **PACKAGED_PHOTOS_WITHOUT_PEOPLE}[name]
    source = packaged_photo(package, relative)
    assert source is not None, f"{package} is not installed (requirements/faces.txt)"
    return Image.open(source).convert("RGB")


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def write_face_case(folder: Path) -> None:
    """The astronaut, twice augmented (mirrored; darker, rotated a little and recompressed), the six people and
    their mirror image, and a photo without people."""
    folder.mkdir(parents=True, exist_ok=True)
    astronaut = photo("people/astronaut.png")
    astronaut.save(folder / "astronaut.png")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "astronaut-mirrored.png")
    darker = ImageEnhance.Brightness(astronaut).enhance(0.7).rotate(6, resample=Image.Resampling.BICUBIC)
    (folder / "astronaut-darker.jpg").write_bytes(jpeg(darker, quality=70))
    people = photo("people/six-people.jpg")
    people.save(folder / "six-people.png")
    people.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "six-people-mirrored.png")
    photo("objects/coffee.png").save(folder / "coffee.png")


def store_real_faces(job, stage: str = "faces") -> None:
    """Run a stage (the faces stage) in this process, with this host's models (settings.MODELS_ROOT), over the
    job's images, and store what it finds at the version the job froze."""
    from content.services import stage_results_save
    from extractors.registry import get_registry
    from jobs.config import extractor_context
    from jobs.models import JobImage
    from jobs.pipeline.stages import _image_refs

    extractor, provenance = get_registry().loaded(stage, extractor_context(stage, job.run_config))
    assert provenance.version == job.run_config.version(stage)
    image_ids = list(JobImage.objects.filter(job=job).order_by("image_id").values_list("image_id", flat=True))
    stage_results_save(provenance=provenance, results=extractor.run(_image_refs(job, image_ids)))
