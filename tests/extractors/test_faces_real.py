"""The faces stage with the real default pack (YuNet + SFace, installed from its wheel) on real photographs that
installed packages ship: what an examiner relies on, not only shapes."""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from extractors.base import Outcome
from extractors.facemodels import PACKS
from extractors.faces import FacesExtractor
from jobs.samples import PACKAGED_PHOTOS, PACKAGED_PHOTOS_WITHOUT_PEOPLE, packaged_photo
from tests.support.ml import context, evidence_ref, write_picture

SFACE = PACKS["yunet_sface"]


def _photo(name: str, tmp_path: Path) -> Path:
    """A copy of a packaged photograph (by its sample-folder name), made at run time."""
    package, relative = {**PACKAGED_PHOTOS, **PACKAGED_PHOTOS_WITHOUT_PEOPLE}[name]
    source = packaged_photo(package, relative)
    assert source is not None, f"{package} is not installed (requirements/faces.txt)"
    target = tmp_path / Path(name).name
    shutil.copyfile(source, target)
    return target


@pytest.fixture(scope="module")
def real_faces(real_models) -> FacesExtractor:
    params = FacesExtractor.resolved_params({"pack": "yunet_sface", "det_size": 640, "batch_size": 4})
    extractor = FacesExtractor(context(real_models, params))
    extractor.provenance = extractor.load()
    return extractor


def _faces(extractor: FacesExtractor, path: Path):
    [result] = extractor.run([evidence_ref(path)])
    assert result.outcome is Outcome.DONE, result.error
    return result.data.faces


def _vector(face) -> np.ndarray:
    return np.frombuffer(face.embedding, dtype="<f4")


def test_the_default_pack_records_its_model_dimension_and_thresholds(real_faces, real_models):
    params = real_faces.provenance.params
    assert params["embedding_dim"] == 128
    assert params["match_threshold"] == SFACE.match_threshold == 0.363
    assert params["det_threshold"] == SFACE.det_threshold
    assert params["min_face_size"] == SFACE.min_face_size
    recogniser = f"models/yunet_sface/{SFACE.recogniser}"
    assert params["recogniser_sha256"] == params["model_files"][recogniser] == SFACE.wheel.members[SFACE.recogniser][1]
    assert "MIT" in params["licence"]
    assert "Apache-2.0" in params["licence"]


def test_every_face_of_the_group_photo_is_found(real_faces, tmp_path):
    path = _photo("people/six-people.jpg", tmp_path)
    width, height = Image.open(path).size
    faces = _faces(real_faces, path)
    assert len(faces) == 6
    for face in faces:
        assert 0 <= face.x <= face.x + face.width <= width
        assert 0 <= face.y <= face.y + face.height <= height
        assert SFACE.det_threshold <= face.score <= 1
        assert min(face.width, face.height) >= SFACE.min_face_size
        for x, y in face.landmarks:
            assert face.x <= x <= face.x + face.width
            assert face.y <= y <= face.y + face.height
        assert len(_vector(face)) == 128
        assert np.isclose(np.linalg.norm(_vector(face)), 1.0, atol=1e-5)
        assert Image.open(io.BytesIO(face.crop)).format == "JPEG"


def test_the_astronaut_is_one_face(real_faces, tmp_path):
    [face] = _faces(real_faces, _photo("people/astronaut.png", tmp_path))
    assert face.score > 0.9


@pytest.mark.parametrize("name", sorted(PACKAGED_PHOTOS_WITHOUT_PEOPLE))
def test_no_face_in_a_photo_without_people(real_faces, tmp_path, name):
    assert _faces(real_faces, _photo(name, tmp_path)) == ()


def _variants(original: Image.Image, tmp_path: Path) -> dict[str, Path]:
    """The same photograph as evidence often holds it: mirrored, halved, recompressed, brighter, darker, and
    stored turned with an EXIF orientation."""
    variants = {
        "flipped": original.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "half size": original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS),
        "brighter": ImageEnhance.Brightness(original).enhance(1.4),
        "darker": ImageEnhance.Brightness(original).enhance(0.6),
    }
    paths = {name: write_picture(tmp_path / f"{name}.png", img, fmt="PNG") for name, img in variants.items()}
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=30)
    (tmp_path / "quality-30.jpg").write_bytes(buffer.getvalue())
    paths["JPEG quality 30"] = tmp_path / "quality-30.jpg"
    for orientation in (3, 6, 8):
        paths[f"EXIF orientation {orientation}"] = write_picture(
            tmp_path / f"turned-{orientation}.jpg", original, orientation=orientation
        )
    return paths


def test_the_same_face_stays_the_same_person_through_everyday_changes(real_faces, tmp_path):
    original = Image.open(_photo("people/astronaut.png", tmp_path)).convert("RGB")
    [reference] = _faces(real_faces, write_picture(tmp_path / "original.png", original, fmt="PNG"))
    for name, path in _variants(original, tmp_path).items():
        [face] = _faces(real_faces, path)
        similarity = float(_vector(face) @ _vector(reference))
        assert similarity >= SFACE.match_threshold, f"{name}: {similarity:.3f}"


def test_different_people_stay_below_the_same_person_threshold(real_faces, tmp_path):
    group = _faces(real_faces, _photo("people/six-people.jpg", tmp_path))
    [astronaut] = _faces(real_faces, _photo("people/astronaut.png", tmp_path))
    people = [*group, astronaut]
    assert len(people) == 7
    for a, b in itertools.combinations(people, 2):
        assert float(_vector(a) @ _vector(b)) < SFACE.match_threshold
