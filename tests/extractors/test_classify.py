import hashlib

import numpy as np
import pytest

from extractors.base import ImageRef, Outcome, StageUnavailable
from extractors.classify import ClassifyExtractor, vocabulary_read
from jobs.samples import picture
from tests.support.ml import CLIP_CHECKPOINT, VOCABULARY, classify_params, context, evidence_ref, write_picture
from tests.support.synthetic_models import TINY_COCA, write_open_clip


@pytest.fixture(scope="module")
def classify(tiny_models) -> ClassifyExtractor:
    extractor = ClassifyExtractor(context(tiny_models, classify_params()))
    extractor.load()
    return extractor


def _vector(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def test_embedding_and_tags(classify, tmp_path):
    refs = [evidence_ref(write_picture(tmp_path / f"{i}.jpg", picture(800, 600, seed=i)), i) for i in range(3)]
    results = classify.run(refs)
    assert sorted(item.image_id for item in results) == [0, 1, 2]
    labels = set(vocabulary_read(VOCABULARY).labels)
    for item in results:
        assert item.outcome is Outcome.DONE, item.error
        embedding = _vector(item.data.embedding)
        assert embedding.shape == (32,)  # the tiny model's embed_dim
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
        scores = [tag.score for tag in item.data.tags]
        assert len(scores) == 5
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= score <= 1.0 for score in scores)
        assert {tag.label for tag in item.data.tags} <= labels
        assert item.data.caption == ""
    assert not np.allclose(_vector(results[0].data.embedding), _vector(results[1].data.embedding))


def test_min_score_and_top_k_limit_the_tags(tiny_models, tmp_path):
    extractor = ClassifyExtractor(context(tiny_models, classify_params(top_k=3, min_score=0.99)))
    extractor.load()
    [item] = extractor.run([evidence_ref(write_picture(tmp_path / "a.jpg", picture(400, 300)))])
    assert item.outcome is Outcome.DONE
    assert item.data.tags == ()


def test_batched_results_equal_one_at_a_time(tiny_models, tmp_path):
    refs = [evidence_ref(write_picture(tmp_path / f"{i}.jpg", picture(640, 480, seed=i)), i) for i in range(5)]
    refs.append(ImageRef(9, str(tmp_path / "missing.jpg").encode(), "image/jpeg"))
    batched = ClassifyExtractor(context(tiny_models, classify_params(batch_size=4)))
    single = ClassifyExtractor(context(tiny_models, classify_params(batch_size=1)))
    batched.load()
    single.load()
    together = {item.image_id: item for item in batched.run(refs)}
    alone = {ref.image_id: single.run([ref])[0] for ref in refs}
    assert together.keys() == alone.keys() == {0, 1, 2, 3, 4, 9}
    assert together[9].outcome is alone[9].outcome is Outcome.FAILED
    for i in range(5):
        assert [t.label for t in together[i].data.tags] == [t.label for t in alone[i].data.tags]
        scores = [t.score for t in alone[i].data.tags]
        assert [t.score for t in together[i].data.tags] == pytest.approx(scores, abs=1e-5)
        assert np.allclose(_vector(together[i].data.embedding), _vector(alone[i].data.embedding), atol=1e-5)


def test_exif_orientation_is_applied_before_the_model(classify, tmp_path):
    upright = picture(640, 480, seed=7)
    plain = evidence_ref(write_picture(tmp_path / "upright.png", upright, fmt="PNG"), 1)
    turned = evidence_ref(write_picture(tmp_path / "turned.png", upright, orientation=6, fmt="PNG"), 2)
    assert turned.orientation == 6
    a, b = classify.run([plain, turned])
    assert np.allclose(_vector(a.data.embedding), _vector(b.data.embedding), atol=1e-5)


def test_text_embedding_for_search(classify):
    first, second = _vector(classify.text_embedding("a red car")), _vector(classify.text_embedding("a knife"))
    assert first.shape == (32,)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(first, second)
    assert np.array_equal(first, _vector(classify.text_embedding("a red car")))


def test_provenance(tiny_models):
    provenance = ClassifyExtractor(context(tiny_models, classify_params(top_k=7))).load()
    checkpoint = tiny_models / CLIP_CHECKPOINT
    assert provenance.model_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert provenance.model_name == f"open_clip tiny: {CLIP_CHECKPOINT}"
    assert provenance.params["vocabulary_sha256"] == hashlib.sha256(VOCABULARY.read_bytes()).hexdigest()
    config = checkpoint.parent / "open_clip_config.json"
    assert provenance.params["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert provenance.params["top_k"] == 7
    assert provenance.params["device"] == "cpu"


def test_a_missing_checkpoint_is_unavailable_with_the_fix(tmp_path):
    with pytest.raises(StageUnavailable) as raised:
        ClassifyExtractor(context(tmp_path, classify_params())).load()
    assert "is not installed" in raised.value.reason
    assert raised.value.fix == "python manage.py models install /path/to/tiny-folder-or-zip --into open_clip/tiny"


def test_a_checkpoint_of_another_architecture_is_unavailable(tiny_models):
    params = classify_params(model="ViT-B-32", checkpoint="models/buffalo_l/w600k_r50.onnx")
    with pytest.raises(StageUnavailable, match="cannot load ViT-B-32"):
        ClassifyExtractor(context(tiny_models, params)).load()


def test_coca_writes_a_caption(tmp_path):
    write_open_clip(tmp_path, "coca", config=TINY_COCA)
    params = classify_params(model="coca", checkpoint="open_clip/coca/open_clip_model.safetensors", batch_size=2)
    extractor = ClassifyExtractor(context(tmp_path, params))
    assert extractor.load().params["caption"] is True
    refs = [evidence_ref(write_picture(tmp_path / f"{i}.jpg", picture(320, 240, seed=i)), i) for i in range(3)]
    together = {item.image_id: item.data for item in extractor.run(refs)}
    alone = {ref.image_id: extractor.run([ref])[0].data for ref in refs}
    for i in range(3):
        assert isinstance(together[i].caption, str)
        assert together[i].caption
        assert together[i].caption == alone[i].caption
        assert _vector(together[i].embedding).shape == (64,)


def test_the_vocabulary_has_what_an_examiner_needs():
    labels = vocabulary_read(VOCABULARY).labels
    for needed in (
        "person", "child", "group", "document", "id card", "passport", "screenshot", "handwriting", "weapon",
        "firearm", "knife", "drugs", "cash", "bank card", "vehicle", "licence plate", "indoor", "outdoor", "night",
        "nudity",
    ):  # fmt: skip
        assert needed in labels


def test_a_bad_vocabulary_line_is_an_error(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_text("# tags\ncar: a photo of a car\ncar: a car\n")
    with pytest.raises(ValueError, match="appears twice"):
        vocabulary_read(path)
    path.write_text("car\nboat: a boat | a ship\n")
    vocabulary = vocabulary_read(path)
    assert vocabulary.labels == ("car", "boat")
    assert vocabulary.sentences == (("a photo of car",), ("a boat", "a ship"))
