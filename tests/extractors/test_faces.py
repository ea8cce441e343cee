import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from extractors.base import ImageRef, Outcome, StageUnavailable, effective_version
from extractors.decoding import decode_oriented
from extractors.faces import FacesExtractor, _providers, pack_files
from tests.support.ml import FACE, context, evidence_ref, face_picture, faces_params, write_picture
from tests.support.synthetic_models import LANDMARKS, write_faces_pack


@pytest.fixture(scope="module")
def faces(tiny_models) -> FacesExtractor:
    extractor = FacesExtractor(context(tiny_models, faces_params()))
    extractor.load()
    return extractor


def _boxes(result) -> list[tuple[float, float, float, float]]:
    return [(f.x, f.y, f.width, f.height) for f in result.data.faces]


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png")])
def test_faces_are_found_where_they_are_in_original_pixels(faces, tmp_path, fmt, suffix):
    path = write_picture(tmp_path / f"two{suffix}", face_picture(faces=((256, 192), (640, 448))), fmt=fmt)
    [result] = faces.run([evidence_ref(path)])
    assert result.outcome is Outcome.DONE, result.error
    assert sorted(_boxes(result)) == [
        pytest.approx((256, 192, FACE, FACE), abs=1.0),
        pytest.approx((640, 448, FACE, FACE), abs=1.0),
    ]
    for face in result.data.faces:
        assert 0.9 < face.score <= 1.0
        expected = [(face.x + fx * face.width, face.y + fy * face.height) for fx, fy in LANDMARKS]
        assert np.allclose(face.landmarks, expected, atol=1.0)
        embedding = np.frombuffer(face.embedding, dtype="<f4")
        assert embedding.shape == (512,)
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
        crop = Image.open(io.BytesIO(face.crop))
        assert crop.format == "JPEG"
        assert crop.size == (96, 96)
    scores = [face.score for face in result.data.faces]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("orientation", [None, 3, 6, 8])
def test_boxes_are_upright_whatever_the_exif_orientation(faces, tmp_path, orientation):
    upright = face_picture(faces=((320, 128),))
    path = write_picture(tmp_path / f"turned-{orientation}.jpg", upright, orientation=orientation)
    ref = evidence_ref(path)
    assert ref.orientation == orientation
    # Stored sideways for 6 and 8, yet the box is where the face is in the picture as meant to be seen.
    stored = Image.open(path).size
    assert stored == ((960, 1280) if orientation in (6, 8) else (1280, 960))
    [result] = faces.run([ref])
    assert _boxes(result) == [pytest.approx((320, 128, FACE, FACE), abs=1.0)]


def test_detection_runs_on_a_reduced_decode(tmp_path):
    path = write_picture(tmp_path / "big.jpg", face_picture(2560, 1920, faces=((512, 384),)), orientation=6)
    image = decode_oriented(evidence_ref(path), max_pixels=10**9, long_side=640)
    assert image.scale == 4.0
    assert image.pixels.size == (640, 480)
    assert image.full_size == (2560, 1920)


def test_faces_on_a_large_photo_map_to_full_resolution(faces, tiny_models, tmp_path):
    # Decoded at a quarter for detection; the 128-pixel face is one detector cell there.
    picture = face_picture(2560, 1920, faces=())
    picture.paste((255, 255, 255), (512, 384, 512 + 2 * FACE, 384 + 2 * FACE))
    ref = evidence_ref(write_picture(tmp_path / "big.jpg", picture))
    [result] = faces.run([ref])
    assert _boxes(result) == [pytest.approx((512, 384, 2 * FACE, 2 * FACE), abs=2.0)]
    # The face is aligned on a full-resolution decode (it is too small in the quarter-size one): the embedding is
    # the recogniser's on the full-resolution pixels.
    from insightface.model_zoo import model_zoo
    from insightface.utils import face_align

    recogniser = model_zoo.get_model(str(tiny_models / "models/buffalo_l/w600k_r50.onnx"))
    full = np.ascontiguousarray(np.asarray(decode_oriented(ref, max_pixels=10**9).pixels)[:, :, ::-1])
    [face] = result.data.faces
    landmarks = np.asarray(face.landmarks, dtype=np.float32)
    expected = recogniser.get_feat([face_align.norm_crop(full, landmark=landmarks, image_size=112)])[0]
    expected /= np.linalg.norm(expected)
    assert np.allclose(np.frombuffer(face.embedding, "<f4"), expected, atol=1e-3)


def test_zero_faces_is_a_done_result(faces, tmp_path):
    path = write_picture(tmp_path / "empty.jpg", face_picture(faces=()))
    [result] = faces.run([evidence_ref(path)])
    assert result.outcome is Outcome.DONE
    assert result.data.faces == ()


def test_small_faces_are_dropped_by_the_minimum_size(tiny_models, tmp_path):
    path = write_picture(tmp_path / "one.jpg", face_picture(faces=((256, 192),)))
    extractor = FacesExtractor(context(tiny_models, faces_params(min_face_size=FACE + 1)))
    extractor.load()
    [result] = extractor.run([evidence_ref(path)])
    assert result.outcome is Outcome.DONE
    assert result.data.faces == ()


def test_bad_images_are_results_not_crashes(faces, tmp_path):
    good = write_picture(tmp_path / "good.jpg", face_picture())
    whole = good.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 3])
    narrow = write_picture(tmp_path / "narrow.png", Image.new("RGB", (4000, 2)), fmt="PNG")
    refs = [evidence_ref(good, 1), ImageRef(2, str(cut).encode(), "image/jpeg"), evidence_ref(narrow, 3)]
    results = {item.image_id: item for item in faces.run(refs)}
    assert results[1].outcome is Outcome.DONE
    assert len(results[1].data.faces) == 1
    assert results[2].outcome is Outcome.FAILED
    assert results[2].error.startswith(("truncated JPEG", "corrupt JPEG"))
    assert results[3].outcome is Outcome.SKIPPED
    assert "too narrow" in results[3].error


def test_batched_results_equal_one_at_a_time(tiny_models, tmp_path):
    spots = [((256, 192),), (), ((64, 64), (640, 448), (1152, 832)), ((512, 320),), ((0, 0),)]
    paths = [
        write_picture(tmp_path / f"{i}.jpg", face_picture(faces=spot), orientation=6 if i == 3 else None)
        for i, spot in enumerate(spots)
    ]
    refs = [evidence_ref(path, i) for i, path in enumerate(paths)]
    batched = FacesExtractor(context(tiny_models, faces_params(batch_size=3)))
    single = FacesExtractor(context(tiny_models, faces_params(batch_size=1)))
    batched.load()
    single.load()
    together = {item.image_id: item for item in batched.run(refs)}
    alone = {ref.image_id: single.run([ref])[0] for ref in refs}
    assert [len(together[i].data.faces) for i in range(5)] == [1, 0, 3, 1, 1]
    for i in range(5):
        assert _boxes(together[i]) == _boxes(alone[i])
        for a, b in zip(together[i].data.faces, alone[i].data.faces, strict=True):
            assert a.landmarks == b.landmarks
            assert a.score == b.score
            assert a.crop == b.crop
            assert np.allclose(np.frombuffer(a.embedding, "<f4"), np.frombuffer(b.embedding, "<f4"), atol=1e-5)


def test_provenance_names_the_files_by_sha256(tiny_models):
    provenance = FacesExtractor(context(tiny_models, faces_params(det_threshold=0.6))).load()
    files = ["models/buffalo_l/det_10g.onnx", "models/buffalo_l/w600k_r50.onnx"]
    digests = {path: hashlib.sha256((tiny_models / path).read_bytes()).hexdigest() for path in files}
    assert provenance.params["model_files"] == digests
    listing = "".join(f"{digests[path]}  {path}\n" for path in files)
    assert provenance.model_sha256 == hashlib.sha256(listing.encode()).hexdigest()
    assert provenance.model_name == "buffalo_l: det_10g.onnx + w600k_r50.onnx"
    assert provenance.params["det_threshold"] == 0.6
    assert provenance.params["min_face_size"] == 20
    assert provenance.params["device"] == "cpu"


def test_other_packs_load_by_name(tmp_path):
    write_faces_pack(tmp_path, pack="buffalo_s", files=("det_500m.onnx", "w600k_mbf.onnx"))
    provenance = FacesExtractor(context(tmp_path, faces_params(pack="buffalo_s"))).load()
    assert provenance.model_name == "buffalo_s: det_500m.onnx + w600k_mbf.onnx"
    assert pack_files({"pack": "antelopev2"}) == (
        "models/antelopev2/scrfd_10g_bnkps.onnx",
        "models/antelopev2/glintr100.onnx",
    )


def test_a_missing_pack_is_unavailable_with_the_fix(tmp_path):
    with pytest.raises(StageUnavailable) as raised:
        FacesExtractor(context(tmp_path, faces_params())).load()
    assert "buffalo_l is not installed" in raised.value.reason
    assert raised.value.fix == "python manage.py models install /path/to/buffalo_l.zip"


def test_an_unreadable_model_file_is_unavailable(tmp_path):
    write_faces_pack(tmp_path)
    (tmp_path / "models/buffalo_l/w600k_r50.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(StageUnavailable) as raised:
        FacesExtractor(context(tmp_path, faces_params())).load()
    assert "models verify" in raised.value.fix


def test_device_selection():
    assert _providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert _providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert _providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0][0] == "CUDAExecutionProvider"
    assert _providers("cuda:1", ["CUDAExecutionProvider"])[0] == ("CUDAExecutionProvider", {"device_id": 1})
    with pytest.raises(StageUnavailable, match="no CUDA provider") as raised:
        _providers("cuda", ["CPUExecutionProvider"])
    assert "requirements/gpu.txt" in raised.value.fix


def test_unset_thresholds_are_the_packs_own_and_key_results_alike():
    unset = {"pack": "yunet_sface", "det_threshold": None, "min_face_size": "", "match_threshold": None}
    resolved = FacesExtractor.resolved_params(unset)
    assert (resolved["det_threshold"], resolved["min_face_size"], resolved["match_threshold"]) == (0.6, 20, 0.363)
    assert FacesExtractor.resolved_params({"pack": "buffalo_l", "det_threshold": 0.7})["det_threshold"] == 0.7
    assert FacesExtractor.resolved_params({"pack": "buffalo_l"})["match_threshold"] == 0.4
    assert effective_version(FacesExtractor, unset) == effective_version(FacesExtractor, resolved)
    assert effective_version(FacesExtractor, unset) != effective_version(FacesExtractor, {"pack": "buffalo_l"})
