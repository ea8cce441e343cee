"""Persons from the real default face pack (YuNet + SFace, installed from its wheel) on real photographs that
installed packages ship: copies of one photograph as evidence holds them (mirrored, resized, brighter, darker,
recompressed) are one person, and the six people of the group photo are six persons."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from PIL import Image, ImageEnhance

from cases.services import case_create
from content.services import stage_results_save
from extractors.base import Outcome
from extractors.faces import FacesExtractor
from jobs.pipeline.persons import persons_run
from jobs.samples import PACKAGED_PHOTOS, packaged_photo
from persons.models import FaceAssignment
from persons.updates import persons_pending_add
from tests.support.ml import context, evidence_ref, write_picture
from tests.support.review import images_in_case


@pytest.fixture(scope="module")
def real_faces(real_models) -> FacesExtractor:
    params = FacesExtractor.resolved_params({"pack": "yunet_sface", "det_size": 640, "batch_size": 4})
    extractor = FacesExtractor(context(real_models, params))
    extractor.provenance = extractor.load()
    return extractor


def _copies(name: str, folder: Path) -> list[Path]:
    """The packaged photograph `name` and copies of it as evidence often holds them."""
    package, relative = PACKAGED_PHOTOS[name]
    source = packaged_photo(package, relative)
    assert source is not None, f"{package} is not installed (requirements/faces.txt)"
    folder.mkdir()
    original = folder / f"original{source.suffix}"
    shutil.copyfile(source, original)
    picture = Image.open(original).convert("RGB")
    variants = {
        "flipped": picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "brighter": ImageEnhance.Brightness(picture).enhance(1.3),
        "darker": ImageEnhance.Brightness(picture).enhance(0.7),
    }
    paths = [original] + [write_picture(folder / f"{n}.png", img, fmt="PNG") for n, img in variants.items()]
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=40)
    (folder / "quality-40.jpg").write_bytes(buffer.getvalue())
    return [*paths, folder / "quality-40.jpg"]


@pytest.mark.django_db
def test_copies_of_one_person_are_one_person_and_the_group_photo_six(real_faces, tmp_path):
    lead = get_user_model().objects.create_user(username="lead", email="lead@example.org")
    case = case_create(reference="2024-050", title="t", owner=lead)
    astronaut = _copies("people/astronaut.png", tmp_path / "astronaut")
    group = _copies("people/six-people.jpg", tmp_path / "group")
    paths = astronaut + group
    _, images = images_in_case(case=case, owner=lead, source=tmp_path, numbers=range(1, len(paths) + 1))
    refs = [evidence_ref(path, image.pk) for path, image in zip(paths, images, strict=True)]
    results = real_faces.run(refs)
    assert all(r.outcome is Outcome.DONE for r in results)
    stage_results_save(provenance=real_faces.provenance, results=results)
    persons_pending_add(case_id=case.pk, image_ids=[i.pk for i in images])
    found = {r.image_id: len(r.data.faces) for r in results}
    assert [found[i.pk] for i in images] == [1] * len(astronaut) + [6] * len(group)

    run = persons_run(case_id=case.pk)
    assert (run.model_sha256, run.faces) == (real_faces.provenance.model_sha256, len(astronaut) + 6 * len(group))
    persons: dict[int, set[int]] = {}
    for person_id, image_id in FaceAssignment.objects.filter(case=case).values_list("person_id", "face__image_id"):
        persons.setdefault(person_id, set()).add(image_id)
    assert None not in persons  # every face is someone's
    astronaut_images = {i.pk for i in images[: len(astronaut)]}
    group_images = {i.pk for i in images[len(astronaut) :]}
    assert astronaut_images in persons.values()  # every copy of her, and no one else
    seen_in_group = [p for p in persons.values() if p & group_images]
    assert len(seen_in_group) == 6  # six people, apart
    assert all(p == group_images for p in seen_in_group)  # each in every copy of the photo
