"""Storing face and classification results: idempotent, and "no faces" is a result."""

import numpy as np
import pytest

from content.models import Classification, Face, Image, StageResult
from content.services import stage_results_save
from extractors.base import ItemResult, Outcome, Provenance
from extractors.classify import ClassifyResult, Tag
from extractors.faces import DetectedFace, FacesResult

pytestmark = pytest.mark.django_db


def _image(n: int) -> Image:
    digest = f"{n:064x}"
    return Image.objects.create(
        sha256=digest, md5=digest[:32], sha1=digest[:40], size=1, mime="image/jpeg", format="JPEG",
        raw_width=10, raw_height=10, width=10, height=10, mode="RGB",
    )  # fmt: skip


def _face(x: float) -> DetectedFace:
    vector = np.zeros(512, dtype="<f4")
    vector[int(x)] = 1.0
    points = ((x + 1, 2.0), (x + 3, 2.0), (x + 2, 3.0), (x + 1, 4.0), (x + 3, 4.0))
    return DetectedFace(x, 1.0, 4.0, 4.0, 0.9, points, vector.tobytes(), b"\xff\xd8jpeg")


FACES = Provenance(stage="faces", version="1", model_name="pack", model_sha256="a" * 64, params={"det_threshold": 0.5})
CLASSIFY = Provenance(stage="classify", version="1", model_name="clip", model_sha256="b" * 64, params={"top_k": 5})


def test_faces_saved_twice_are_stored_once_and_zero_faces_is_done():
    two, none, bad = _image(1), _image(2), _image(3)
    results = [
        ItemResult(two.pk, Outcome.DONE, FacesResult((_face(1.0), _face(5.0)))),
        ItemResult(none.pk, Outcome.DONE, FacesResult(())),
        ItemResult(bad.pk, Outcome.FAILED, error="truncated JPEG"),
    ]
    stage_results_save(provenance=FACES, results=results)
    stage_results_save(provenance=FACES, results=results)  # a redelivered task
    assert StageResult.objects.filter(stage="faces").count() == 3
    assert dict(StageResult.objects.values_list("image_id", "status")) == {
        two.pk: "done",
        none.pk: "done",
        bad.pk: "failed",
    }
    faces = list(Face.objects.order_by("index"))
    assert [(f.image_id, f.index, f.x) for f in faces] == [(two.pk, 0, 1.0), (two.pk, 1, 5.0)]
    assert faces[0].landmarks == [[2.0, 2.0], [4.0, 2.0], [3.0, 3.0], [2.0, 4.0], [4.0, 4.0]]
    assert np.frombuffer(bytes(faces[1].embedding), "<f4")[5] == 1.0
    result = faces[0].result
    assert (result.model_sha256, result.params) == ("a" * 64, {"det_threshold": 0.5})


def test_classifications_saved_twice_are_stored_once():
    image = _image(4)
    vector = np.full(32, 1 / np.sqrt(32), dtype="<f4").tobytes()
    data = ClassifyResult(tags=(Tag("person", 0.8), Tag("indoor", 0.1)), embedding=vector, caption="a room")
    for _ in range(2):
        stage_results_save(provenance=CLASSIFY, results=[ItemResult(image.pk, Outcome.DONE, data)])
    [row] = Classification.objects.all()
    assert row.tags == [{"label": "person", "score": 0.8}, {"label": "indoor", "score": 0.1}]
    assert (row.embedding_dim, row.caption, bytes(row.embedding)) == (32, "a room", vector)
    assert row.result.model_sha256 == "b" * 64
