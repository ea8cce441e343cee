"""The EXIF stage, tested directly on image files (no Django): values checked against exiftool, EXIF found in
every container that carries it, hostile blocks and random bytes never escaping as an exception."""

from __future__ import annotations

import io
import json
import struct
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from evidence.exifblock import exif_groups
from evidence.jpeg import jpeg_metadata
from evidence.probe import probe
from evidence.walk import walk
from extractors.base import ImageRef, Outcome
from extractors.exif import MAX_BLOB, ExifResult, parse_exif_block, pillow_groups, summarise
from jobs.samples import Gps, exif_bytes, picture, write_photo
from tests.support.images import (
    RATIONAL,
    SHORT,
    SRATIONAL,
    UNDEFINED,
    ascii_value,
    exif_block,
    hostile_exif_blocks,
    jpeg_bytes,
    png_chunk,
    rationals,
    with_app1,
)

CASES = {
    "north-east": {"make": "Canon", "model": "EOS 80D", "taken": "2023:05:04 11:30:15", "offset": "+02:00",
                   "orientation": 1, "gps": Gps(48.8584, 2.2945, 35.0, ("2023:05:04", 9, 30, 15))},
    "south-east": {"make": "Apple", "model": "iPhone 12", "taken": "2022:12:31 23:59:59", "offset": "+11:00",
                   "orientation": 6, "gps": Gps(-33.8568, 151.2153, -12.5, ("2022:12:31", 12, 59, 59))},
    "north-west": {"make": "SONY", "model": "ILCE-7M3", "taken": "2021:06:01 08:00:00", "offset": "+00:00",
                   "orientation": 8, "gps": Gps(51.5007, -0.1246, 0.0)},
    "south-west": {"make": "NIKON CORPORATION", "model": "NIKON D850", "taken": "2020:02:29 17:45:00",
                   "offset": "-03:00", "orientation": 3, "gps": Gps(-22.9519, -43.2105, 700.25)},
    "no-gps-no-offset": {"make": "FUJIFILM", "model": "X-T4", "taken": "2019:01:01 00:00:00"},
    "utf8-text": {"make": "Leica Camera AG", "model": "Müller Ω 1", "taken": "2018:07:14 12:00:00",
                  "offset": "+05:30"},
}  # fmt: skip

MIMES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic", "avif": "image/avif"}
PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF", "avif": "AVIF"}


def encoded(fmt: str, exif: bytes = b"", seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    picture(48, 32, seed).save(buffer, fmt, **({"exif": exif} if exif else {}))
    return buffer.getvalue()


def png_with_exif_after_pixels(exif: bytes) -> bytes:
    """A PNG whose eXIf chunk comes after the image data (allowed by the PNG spec), which Pillow only finds by
    decoding every pixel first."""
    data = encoded("PNG")
    end = data.rindex(b"IEND") - 4
    return data[:end] + png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")) + data[end:]


def run_one(extractor, path: Path, mime: str, image_id: int = 1):
    (result,) = extractor.run([ImageRef(image_id=image_id, path=bytes(path), mime=mime)])
    assert result.image_id == image_id
    return result


def reference_values(record: dict[str, Any]) -> dict[str, Any]:
    """The EXIF summary as exiftool reads it (with -n: signed decimal GPS from the Ref tags)."""
    taken = record.get("EXIF:DateTimeOriginal")
    taken = datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").isoformat() + record.get("EXIF:OffsetTimeOriginal", "")
    gps_time = record.get("Composite:GPSDateTime", "")
    return {
        "camera_make": record.get("EXIF:Make", ""),
        "camera_model": record.get("EXIF:Model", ""),
        "datetime_original": taken,
        "orientation": record.get("EXIF:Orientation"),
        "gps_lat": record.get("Composite:GPSLatitude"),
        "gps_lon": record.get("Composite:GPSLongitude"),
        "gps_alt": record.get("Composite:GPSAltitude"),
        "gps_datetime": datetime.strptime(gps_time, "%Y:%m:%d %H:%M:%SZ").isoformat() + "Z" if gps_time else "",
    }


SUMMARY_FIELDS = ("camera_make", "camera_model", "datetime_original", "orientation", "gps_lat", "gps_lon", "gps_alt",
                  "gps_datetime")  # fmt: skip


def our_values(data: ExifResult) -> dict[str, Any]:
    return {name: getattr(data, name) for name in SUMMARY_FIELDS}


CONTAINERS = {
    "jpg": lambda exif: encoded("JPEG", exif),
    "png": lambda exif: encoded("PNG", exif),  # eXIf chunk before the image data
    "png-late-exif": png_with_exif_after_pixels,
    "webp": lambda exif: encoded("WEBP", exif),
    "heic": lambda exif: encoded("HEIF", exif),
    "avif": lambda exif: encoded("AVIF", exif),
}


@pytest.mark.parametrize("container", CONTAINERS)
def test_exif_values_match_exiftool(tmp_path, exif_extractor, exiftool, container):
    ext = container.split("-")[0]
    paths = {}
    for name, fields in CASES.items():
        paths[name] = tmp_path / f"{name}.{ext}"
        paths[name].write_bytes(CONTAINERS[container](exif_bytes(**fields)))
    reference = exiftool(*paths.values())
    for name, path in paths.items():
        result = run_one(exif_extractor, path, MIMES[ext])
        assert result.outcome == Outcome.DONE, result.error
        ours, theirs = our_values(result.data), reference_values(reference[path.name])
        if ext == "avif":
            # Pillow moves an AVIF's orientation out of the EXIF block into the container's rotation when writing.
            assert theirs.pop("orientation") is None
            ours.pop("orientation")
        for key in ("gps_lat", "gps_lon", "gps_alt"):
            ours[key] = pytest.approx(ours[key], abs=1e-6) if ours[key] is not None else None
        assert ours == theirs, name
        assert result.data.warnings == ()


def test_the_sign_of_gps_coordinates_comes_from_the_ref_tags(tmp_path, exif_extractor):
    for name, fields in CASES.items():
        (tmp_path / f"{name}.jpg").write_bytes(encoded("JPEG", exif_bytes(**fields)))
        data = run_one(exif_extractor, tmp_path / f"{name}.jpg", "image/jpeg").data
        gps = fields.get("gps")
        assert (data.gps_lat, data.gps_lon) == (
            (pytest.approx(gps.lat, abs=1e-6), pytest.approx(gps.lon, abs=1e-6)) if gps else (None, None)
        ), name
        tags = data.tags.get("GPS", {})
        if gps:  # the raw tags keep what the file says: unsigned degrees and the hemisphere letter
            assert tags["GPSLatitudeRef"] == ("S" if gps.lat < 0 else "N")
            assert all(value >= 0 for value in tags["GPSLatitude"])


def test_every_tag_is_kept_as_json_safe_values(tmp_path, exif_extractor):
    maker_note = bytes(range(256)) * 40
    block = exif_block(
        [(0x010F, 2, 6, b"Canon\0"), (0x011A, 5, 1, struct.pack("<II", 300, 1))],
        exif=[(0x927C, UNDEFINED, len(maker_note), maker_note), (0x829A, 5, 1, struct.pack("<II", 1, 0))],
    )
    (tmp_path / "photo.jpg").write_bytes(with_app1(jpeg_bytes(), block))
    data = run_one(exif_extractor, tmp_path / "photo.jpg", "image/jpeg").data
    assert data.tags["IFD0"]["Make"] == "Canon"
    assert data.tags["IFD0"]["XResolution"] == 300.0
    assert data.tags["Exif"]["ExposureTime"] is None  # 1/0
    assert data.tags["Exif"]["MakerNote"] == {
        "hex": maker_note[:MAX_BLOB].hex(), "length": len(maker_note), "truncated": True,
    }  # fmt: skip
    assert_json_safe(data.tags)


def test_an_image_without_exif_is_done_with_an_empty_result(tmp_path, exif_extractor):
    (tmp_path / "plain.png").write_bytes(encoded("PNG"))
    result = run_one(exif_extractor, tmp_path / "plain.png", "image/png")
    assert result.outcome == Outcome.DONE
    assert result.data == ExifResult()


def test_files_that_cannot_be_read_are_failed_results_not_exceptions(tmp_path, exif_extractor):
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)))
    batch = [
        ImageRef(1, bytes(tmp_path / "vanished.jpg"), "image/jpeg"),
        ImageRef(2, bytes(tmp_path / "garbage.jpg"), "image/jpeg"),
        ImageRef(3, bytes(tmp_path), "image/jpeg"),
    ]
    results = {r.image_id: r for r in exif_extractor.run(batch)}
    assert {i: r.outcome for i, r in results.items()} == {1: Outcome.FAILED, 2: Outcome.FAILED, 3: Outcome.FAILED}
    assert results[1].error == "file vanished during the scan"
    assert results[2].error.startswith("corrupt JPEG")
    assert results[3].error == "not a regular file"


def pillow_summary(data: bytes) -> ExifResult:
    """What the stage made of an EXIF block before it read any itself: Pillow's `Exif` over the whole block."""
    with warnings.catch_warnings(record=True) as complaints:
        warnings.simplefilter("always")
        exif = PILImage.Exif()
        exif.load(data)
        groups, unreadable = pillow_groups(exif)
    return summarise(groups, unreadable=unreadable, complaints=complaints)


_XMP_TURNED = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
_SECOND_EXIF = b"Exif\x00\x00" + b"\x00" * 32


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: encoded("JPEG", exif_bytes(**CASES["north-east"])), id="camera"),
        pytest.param(lambda: jpeg_bytes(), id="no-exif"),
        pytest.param(lambda: with_app1(jpeg_bytes(), _XMP_TURNED), id="xmp-orientation-only"),
        pytest.param(
            lambda: with_app1(encoded("JPEG", exif_bytes(**CASES["north-west"])), _XMP_TURNED),
            id="exif-orientation-wins-over-xmp",
        ),
        pytest.param(
            lambda: with_app1(with_app1(jpeg_bytes(), _SECOND_EXIF), exif_bytes(**CASES["north-east"])),
            id="two-exif-segments",
        ),
    ],
)
def test_a_jpegs_exif_is_read_from_its_segments_as_pillow_reads_it(tmp_path, exif_extractor, build):
    data = build()
    (tmp_path / "photo.jpg").write_bytes(data)
    with PILImage.open(io.BytesIO(data)) as img:
        groups, unreadable = pillow_groups(img.getexif())
    result = run_one(exif_extractor, tmp_path / "photo.jpg", "image/jpeg")
    assert result.outcome == Outcome.DONE
    assert result.data == summarise(groups, unreadable=unreadable)


@pytest.mark.parametrize("case", CASES)
def test_camera_blocks_are_read_without_pillow_and_give_what_pillow_gives(case):
    block = exif_bytes(**CASES[case])
    assert exif_groups(block) is not None
    assert parse_exif_block(block) == pillow_summary(block)


def test_a_tiffs_exif_groups_are_read_from_the_file(tmp_path, exif_extractor):
    # Pillow reads a TIFF's Exif and GPS groups from the file when they are asked for, not when the image opens.
    path = write_photo(tmp_path / "scan.tif", width=64, height=48, fmt="TIFF", exif=exif_bytes(**CASES["north-west"]))
    result = run_one(exif_extractor, path, "image/tiff")
    assert result.outcome == Outcome.DONE
    assert result.data.warnings == ()
    summary = (result.data.camera_make, result.data.datetime_original, result.data.gps_lat, result.data.gps_lon)
    assert summary == ("SONY", "2021-06-01T08:00:00+00:00", 51.5007, -0.1246)


def test_a_jpeg_whose_segments_cannot_be_walked_is_left_to_pillow(tmp_path, exif_extractor):
    cut = jpeg_bytes()[:5]  # the first segment's length runs off the end
    assert jpeg_metadata(io.BytesIO(cut)) is None
    (tmp_path / "cut.jpg").write_bytes(cut)
    result = run_one(exif_extractor, tmp_path / "cut.jpg", "image/jpeg")
    assert (result.outcome, result.error.split(":")[0]) == (Outcome.FAILED, "corrupt JPEG")


def test_an_exif_segment_that_is_not_exif_is_a_failed_result_not_an_empty_one(tmp_path, exif_extractor):
    (tmp_path / "bad.jpg").write_bytes(with_app1(jpeg_bytes(), b"Exif\x00\x00" + b"not a TIFF header"))
    result = run_one(exif_extractor, tmp_path / "bad.jpg", "image/jpeg")
    assert result.outcome == Outcome.FAILED
    assert result.error.startswith("unreadable EXIF: not a TIFF file")


def assert_json_safe(value: Any) -> None:
    """What PostgreSQL's jsonb accepts: no NUL and no lone surrogate in any string, no NaN or infinity."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, str):
        assert "\x00" not in value, repr(value)
        assert not any("\ud800" <= c <= "\udfff" for c in value), repr(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_json_safe(key)
            assert_json_safe(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_safe(item)


HOSTILE = hostile_exif_blocks()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_exif_blocks_leave_the_extractor_standing(tmp_path, exif_extractor, name):
    (tmp_path / "hostile.jpg").write_bytes(with_app1(jpeg_bytes(), HOSTILE[name]))
    result = run_one(exif_extractor, tmp_path / "hostile.jpg", "image/jpeg")
    assert result.outcome in (Outcome.DONE, Outcome.FAILED)
    if result.outcome == Outcome.FAILED:
        assert result.error.startswith("unreadable EXIF: ")
    else:
        assert_json_safe(result.data.tags)
        assert_json_safe(list(result.data.warnings))
    # Discovery still types the file as an image: its EXIF is this stage's business.
    (entry,) = walk(bytes(tmp_path))
    found = probe(bytes(tmp_path), entry, max_pixels=10**8)
    assert (found.status, found.error) == ("image", "")
    assert found.info.orientation in (None, *range(1, 9))


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("zero-denominators", "gps_lat", None),
        ("latitude-out-of-range", "gps_lat", None),
        ("bad-orientation", "orientation", None),
        ("impossible-date", "datetime_original", ""),
        ("non-utf8-text", "camera_make", ""),
        ("ifd-loop", "camera_make", "Canon"),
        ("gps-points-at-itself", "camera_make", "Canon"),
    ],
)
def test_hostile_values_are_dropped_not_guessed(name, field, value):
    assert getattr(parse_exif_block(HOSTILE[name]), field) == value


def test_text_is_read_as_utf8_then_latin1_and_bytes_that_are_not_text_are_kept_as_hex():
    block = exif_block(
        [(0x010F, *ascii_value("Müller Ω".encode())), (0x013B, *ascii_value("© Müller".encode("latin-1")))]
    )
    assert parse_exif_block(block).tags["IFD0"] == {"Make": "Müller Ω", "Artist": "© Müller"}
    assert parse_exif_block(HOSTILE["non-utf8-text"]).tags["IFD0"]["Make"] == {"hex": "fffe8043616e"}


def test_pillows_complaints_about_a_damaged_block_are_kept_as_warnings(tmp_path, exif_extractor):
    complaint = "Tag data larger than file. Skipping tag 271"
    assert complaint in parse_exif_block(HOSTILE["tag-past-the-end"]).warnings
    # In a JPEG, Pillow already reads the block while opening the file (to find its dpi).
    (tmp_path / "damaged.jpg").write_bytes(with_app1(jpeg_bytes(), HOSTILE["tag-past-the-end"]))
    assert complaint in run_one(exif_extractor, tmp_path / "damaged.jpg", "image/jpeg").data.warnings


# Random input. Three sources: any bytes; a TIFF header and IFD whose entries are random (tags an EXIF reader
# follows, any type, count and offset); a real camera block with a few bytes changed.
_INTERESTING_TAGS = [0x010F, 0x0110, 0x0112, 0x0131, 0x8769, 0x8825, 0xA005, 0x9003, 0x9011, 0x927C, 1, 2, 3, 4, 6]
_CAMERA_BLOCK = exif_bytes(
    make="Canon", model="EOS", taken="2023:05:04 10:30:00", offset="+01:00", orientation=6,
    gps=Gps(-1.5, 2.5, -10.0, ("2023:05:04", 1, 2, 3)),
)  # fmt: skip


@st.composite
def random_ifds(draw) -> bytes:
    endian = draw(st.sampled_from(["<", ">"]))
    count = draw(st.integers(0, 12))
    entries = b"".join(
        struct.pack(
            endian + "HHII",
            draw(st.sampled_from(_INTERESTING_TAGS) | st.integers(0, 0xFFFF)),
            draw(st.integers(0, 20)),
            draw(st.sampled_from([0, 1, 2, 3, 8, 0x7FFFFFFF, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF)),
            draw(st.sampled_from([0, 8, 26]) | st.integers(0, 0xFFFFFFFF)),
        )
        for _ in range(count)
    )
    header = (b"II*\0" if endian == "<" else b"MM\0*") + struct.pack(endian + "I", 8)
    next_ifd = draw(st.sampled_from([0, 8]) | st.integers(0, 0xFFFFFFFF))
    ifd = struct.pack(endian + "H", count) + entries + struct.pack(endian + "I", next_ifd)
    return b"Exif\0\0" + header + ifd + draw(st.binary(max_size=200))


@st.composite
def damaged_camera_blocks(draw) -> bytes:
    data = bytearray(_CAMERA_BLOCK)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


exif_payloads = st.one_of(st.binary(max_size=400), random_ifds(), damaged_camera_blocks())


@pytest.mark.filterwarnings("error")  # a warning that escaped would be a complaint lost to the examiner
@settings(max_examples=300, deadline=None)
@given(exif_payloads)
def test_random_exif_blocks_never_raise(data):
    result = parse_exif_block(data)
    assert_json_safe(result.tags)
    assert_json_safe(list(result.warnings))
    assert result.orientation in (None, *range(1, 9))
    assert result.gps_lat is None or -90 <= result.gps_lat <= 90
    assert result.gps_lon is None or -180 <= result.gps_lon <= 180


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}


@st.composite
def readable_ifds(draw) -> bytes:
    """Blocks whose entries have types Pillow knows and values mostly inside the block: regular enough to be
    read without Pillow, with random tags, types, counts, values and sub-IFD pointers."""
    endian = draw(st.sampled_from(["<", ">"]))
    count = draw(st.integers(0, 10))
    tail = draw(st.binary(min_size=0, max_size=160))
    end = 8 + 2 + 12 * count + 4 + len(tail)
    entries = []
    for _ in range(count):
        kind = draw(st.sampled_from(sorted(_TYPE_SIZES)))
        number = draw(st.integers(0, 6))
        if _TYPE_SIZES[kind] * number > 4:
            value = struct.pack(endian + "I", draw(st.integers(0, end)))
        else:
            value = draw(st.binary(min_size=4, max_size=4))
        tag = draw(st.sampled_from(_INTERESTING_TAGS) | st.integers(0, 0xFFFF))
        entries.append(struct.pack(endian + "HHI", tag, kind, number) + value)
    header = (b"II*\0" if endian == "<" else b"MM\0*") + struct.pack(endian + "I", 8)
    next_ifd = draw(st.sampled_from([0, 0, 8]) | st.integers(0, end))
    ifd = struct.pack(endian + "H", count) + b"".join(entries) + struct.pack(endian + "I", next_ifd)
    return b"Exif\0\0" + header + ifd + tail


_SIGNED = struct.pack("<iiii", -7, 2, 5, -4)


@settings(max_examples=500, deadline=None)
@given(st.one_of(readable_ifds(), damaged_camera_blocks(), random_ifds()))
# What random blocks seldom hold: negative signed rationals; text that Pillow turns into a number (an enumerated
# tag); a tag given twice; a single-valued tag with two values; a GPS group with a zero denominator; IFD1.
@example(exif_block([(0x9204, SRATIONAL, 2, _SIGNED), (0x0001, SRATIONAL, 1, _SIGNED[:8])], exif=[]))
@example(exif_block([(0x0128, *ascii_value(b"inch")), (0x0103, *ascii_value(b"LZW")), (0x010F, *ascii_value(b"A"))]))
@example(exif_block([(0x010F, *ascii_value(b"first")), (0x010F, *ascii_value(b"second"))]))
@example(exif_block([(0x0112, SHORT, 2, struct.pack("<HH", 6, 8))]))
@example(exif_block([(0x010F, *ascii_value(b"Canon"))], gps=[(0x0002, RATIONAL, 3, rationals((1, 0), (2, 1), (3, 4)))]))
@example(exif_block([(0x010F, *ascii_value(b"Canon"))], next_ifd=8))
def test_a_block_read_without_pillow_gives_what_pillow_gives(data):
    groups = exif_groups(data)
    if groups is not None:
        assert summarise(groups) == pillow_summary(data)


_PLAIN = jpeg_bytes(16, 16)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exif_payloads.filter(lambda data: len(data) <= 65533))
def test_random_exif_in_a_jpeg_never_escapes_the_extractor(tmp_path, exif_extractor, data):
    path = tmp_path / "random.jpg"
    path.write_bytes(with_app1(_PLAIN, data))
    results = exif_extractor.run([ImageRef(image_id=7, path=bytes(path), mime="image/jpeg")])
    assert [r.image_id for r in results] == [7]
    assert results[0].outcome in (Outcome.DONE, Outcome.FAILED)
    if results[0].outcome == Outcome.DONE:
        assert_json_safe(results[0].data.tags)
        assert_json_safe(list(results[0].data.warnings))


def test_the_stage_says_what_produced_its_results(exif_extractor):
    provenance = exif_extractor.load()
    assert (provenance.stage, provenance.version, provenance.model_name) == ("exif", exif_extractor.version, "pillow")
