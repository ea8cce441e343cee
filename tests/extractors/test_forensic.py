"""The forensic stage on files: each check fires on the edit it looks for, and stays quiet on untouched camera files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from extractors.base import ExtractorContext, ImageRef, Outcome, StageUnavailable
from extractors.forensic import ForensicExtractor, ForensicResult, taken_after_modified
from jobs.samples import write_photo
from tests.support.forensic import camera_photo, painted_over, signed, signing_chain, tampered, with_xmp


@pytest.fixture
def forensic(tmp_path: Path) -> ForensicExtractor:
    extractor = ForensicExtractor(ExtractorContext(models_root=tmp_path))
    extractor.load()
    return extractor


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return signing_chain(tmp_path_factory.mktemp("c2pa"))


def analyse(extractor: ForensicExtractor, path: Path) -> ForensicResult:
    [result] = extractor.run([ImageRef(1, bytes(path), "image/jpeg")])
    assert result.outcome is Outcome.DONE, result.error
    return result.data


def codes(result: ForensicResult) -> list[str]:
    return [flag["code"] for flag in result.flags]


@pytest.mark.parametrize("seed", range(6))
def test_a_picture_changed_under_its_kept_thumbnail_is_flagged_and_the_camera_file_is_not(forensic, tmp_path, seed):
    original = camera_photo(tmp_path / "camera.jpg", seed=seed)
    edited = painted_over(original, tmp_path / "edited.jpg")

    untouched = analyse(forensic, original)
    assert untouched.flags == ()
    assert untouched.thumbnail_distance is not None
    assert untouched.thumbnail_distance <= 48
    assert untouched.taken == "2024-01-02T03:04:05"

    changed = analyse(forensic, edited)
    assert codes(changed) == ["thumbnail-differs"]
    [found] = changed.flags
    assert found["distance"] == changed.thumbnail_distance > 48
    assert f"PDQ distance {found['distance']} of 256" in found["why"]


def test_a_turned_picture_with_the_old_thumbnail_disagrees_in_orientation_only(forensic, tmp_path):
    from PIL import Image

    original = camera_photo(tmp_path / "camera.jpg", size=(640, 480))
    with Image.open(original) as img:
        block = img.info["exif"]
        img.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.jpg", exif=block)
    result = analyse(forensic, tmp_path / "turned.jpg")
    assert codes(result) == ["orientation-disagrees"]
    assert "the EXIF thumbnail is landscape (160x120) and the picture portrait (480x640)" in result.flags[0]["why"]


def test_files_without_an_exif_thumbnail_are_not_compared(forensic, tmp_path):
    result = analyse(forensic, write_photo(tmp_path / "plain.jpg", seed=1))
    assert (result.flags, result.thumbnail_distance, result.xmp, result.c2pa) == ((), None, {}, {})


def test_an_editor_named_in_software_is_flagged(forensic, tmp_path):
    result = analyse(forensic, camera_photo(tmp_path / "p.jpg", software="Adobe Photoshop 25.0 (Windows)"))
    assert codes(result) == ["editing-software"]
    assert result.flags[0]["why"] == ("EXIF Software names an image editor (Photoshop): Adobe Photoshop 25.0 (Windows)")
    assert analyse(forensic, camera_photo(tmp_path / "fw.jpg", software="Firmware Version 1.1.0")).flags == ()


def test_the_list_of_editors_is_a_parameter(tmp_path):
    extractor = ForensicExtractor(ExtractorContext(models_root=tmp_path, params={"editors": ["Firmware"]}))
    extractor.load()
    assert codes(analyse(extractor, camera_photo(tmp_path / "fw.jpg", software="Firmware 1.1"))) == ["editing-software"]


@pytest.mark.parametrize(
    ("taken", "offset", "gps", "flagged"),
    [
        ("2024:01:02 03:04:05", "+01:00", ("2024:01:02", 2, 4, 5), False),  # the same instant
        ("2024:01:02 03:04:05", "+01:00", ("2024:01:02", 2, 20, 0), False),  # within the 30 minutes
        ("2024:01:02 03:04:05", "+01:00", ("2024:01:02", 1, 0, 0), True),  # two hours apart
        ("2024:01:02 03:04:05", "", ("2024:01:01", 14, 0, 0), False),  # 13 h: a zone east of UTC explains it
        ("2024:01:02 03:04:05", "", ("2024:01:01", 10, 0, 0), True),  # 17 h: no zone explains it
        ("2024:01:02 03:04:05", "", ("2024:01:02", 15, 20, 0), False),  # 12 h 16 behind: UTC-12 and the tolerance
        ("2024:01:02 03:04:05", "", ("2024:01:03", 3, 0, 0), True),  # a day behind
    ],
)
def test_a_time_taken_far_from_the_gps_time_is_flagged(forensic, tmp_path, taken, offset, gps, flagged):
    result = analyse(forensic, camera_photo(tmp_path / "p.jpg", taken=taken, offset=offset, gps_utc=gps))
    assert codes(result) == (["gps-time-differs"] if flagged else [])


def test_a_time_taken_after_the_files_modification_time_is_flagged():
    tolerance = dt.timedelta(minutes=30)
    mtime = dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)
    assert taken_after_modified("2024-01-02T13:00:00+01:00", mtime, tolerance) is None  # 12:00 UTC: the same
    late = taken_after_modified("2024-01-02T15:00:00+01:00", mtime, tolerance)
    assert late["code"] == "taken-after-modified"
    assert late["why"] == (
        "DateTimeOriginal 2024-01-02T15:00:00+01:00 is later than the file's modification time 2024-01-02 12:00:00 UTC"
    )
    # Without an offset, 02:00 local time may be UTC+14, i.e. 12:00 UTC the day before: never after this mtime.
    assert taken_after_modified("2024-01-03T02:00:00", mtime, tolerance) is None
    assert taken_after_modified("2024-01-04T02:00:00", mtime, tolerance)["code"] == "taken-after-modified"
    assert taken_after_modified("", mtime, tolerance) is None


def test_an_xmp_edit_history_is_flagged_and_xmp_and_iptc_are_kept(forensic, tmp_path):
    original = camera_photo(tmp_path / "camera.jpg")
    edited = with_xmp(
        original, tmp_path / "history.jpg",
        "-XMP-xmpMM:HistoryAction=saved", "-XMP-xmpMM:HistorySoftwareAgent=GIMP 2.10",
        "-XMP-xmpMM:DerivedFromDocumentID=xmp.did:1234", "-IPTC:By-line=A. Photographer",
        "-XMP-dc:Description=\u202eevil",
    )  # fmt: skip
    result = analyse(forensic, edited)
    assert codes(result) == ["edit-history"]
    assert (
        result.flags[0]["why"] == "the XMP holds an edit history: 1 step (saved GIMP 2.10), derived from xmp.did:1234"
    )
    assert result.xmp["XMP-xmpMM"]["History"] == [{"Action": "saved", "SoftwareAgent": "GIMP 2.10"}]
    assert result.xmp["XMP-dc"]["Description"] == "\u202eevil"
    assert result.iptc["By-line"] == "A. Photographer"
    assert analyse(forensic, original).xmp == {}


def test_an_editor_as_xmp_creator_tool_is_flagged(forensic, tmp_path):
    edited = with_xmp(camera_photo(tmp_path / "c.jpg"), tmp_path / "x.jpg", "-XMP-xmp:CreatorTool=Snapseed 2.0")
    assert codes(analyse(forensic, edited)) == ["editing-software"]


def test_content_credentials_signed_here_read_as_signed_and_valid(forensic, tmp_path, chain):
    result = analyse(forensic, signed(camera_photo(tmp_path / "c.jpg"), tmp_path / "signed.jpg", chain))
    assert codes(result) == ["content-credentials"]
    assert result.c2pa["state"] == "valid"
    assert (result.c2pa["signer"], result.c2pa["issuer"], result.c2pa["ai"]) == ("Test Signer", "Test Lab", "")
    assert result.flags[0]["why"] == (
        "C2PA content credentials signed by Test Signer, Test Lab, valid (made by forensic-tests 1)"
    )


def test_tampered_content_credentials_read_as_invalid(forensic, tmp_path, chain):
    good = signed(camera_photo(tmp_path / "c.jpg"), tmp_path / "signed.jpg", chain)
    result = analyse(forensic, tampered(good, tmp_path / "tampered.jpg"))
    assert codes(result) == ["content-credentials", "content-credentials-invalid"]
    assert result.c2pa["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in result.c2pa["failures"]


def test_an_ai_generation_assertion_reads_as_ai_generated(forensic, tmp_path, chain):
    made = signed(
        write_photo(tmp_path / "gen.jpg", seed=3), tmp_path / "ai.jpg", chain, source_type="trainedAlgorithmicMedia"
    )
    result = analyse(forensic, made)
    assert codes(result) == ["content-credentials", "ai-generated"]
    assert result.c2pa["source_types"] == ["trainedAlgorithmicMedia"]
    edited = signed(
        write_photo(tmp_path / "e.jpg", seed=4), tmp_path / "ai-edit.jpg", chain,
        source_type="compositeWithTrainedAlgorithmicMedia",
    )  # fmt: skip
    assert codes(analyse(forensic, edited)) == ["content-credentials", "ai-edited"]


def test_files_without_a_manifest_have_no_credentials(forensic, tmp_path):
    assert analyse(forensic, camera_photo(tmp_path / "c.jpg")).c2pa == {}


def test_an_unreadable_thumbnail_is_a_warning_not_a_failure(forensic, tmp_path):
    original = camera_photo(tmp_path / "c.jpg")
    data = bytearray(original.read_bytes())
    start = data.find(b"\xff\xd8", 4)  # the thumbnail's start of image, inside the EXIF block
    data[start + 2 : start + 200] = bytes(198)
    (tmp_path / "broken.jpg").write_bytes(bytes(data))
    result = analyse(forensic, tmp_path / "broken.jpg")
    assert result.thumbnail_distance is None
    assert any(w.startswith("picture not compared with its EXIF thumbnail: ") for w in result.warnings)


def test_without_exiftool_the_stage_is_unavailable_with_the_fix(tmp_path, mocker):
    import shutil

    mocker.patch.object(shutil, "which", autospec=True, return_value=None)
    with pytest.raises(StageUnavailable) as raised:
        ForensicExtractor(ExtractorContext(models_root=tmp_path)).load()
    assert raised.value.fix == "apt-get install -y libimage-exiftool-perl"


def test_hostile_images_are_results_not_crashes(forensic, hostile_source):
    """Every file of the hostile tree that discovery types as an image (damaged EXIF, cut-off data, bidi names...)
    gets one result, whatever it holds."""
    root, expected = hostile_source
    images = sorted((name, e.mime) for name, e in expected.items() if e.status == "image")
    assert images
    refs = [ImageRef(n, os.path.join(bytes(root), name), mime) for n, (name, mime) in enumerate(images)]
    results = forensic.run(refs)
    assert sorted(r.image_id for r in results) == list(range(len(refs)))
    assert {r.outcome for r in results} <= {Outcome.DONE, Outcome.FAILED}
