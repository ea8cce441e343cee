"""`jpeg_info`, discovery's Pillow-free reading of a JPEG's header, against Pillow's: on every JPEG it reads, the same
header facts and the same verdict on a cut-off file as `open_image` + `read_info` + `verify_image`; on anything
else, it leaves the file to Pillow. No Django."""

from __future__ import annotations

import io
import struct

import piexif
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from evidence.images import ImageInfo, open_image, read_info
from evidence.jpeg import jpeg_info, jpeg_xmp_or_iptc
from evidence.opening import EvidenceError
from evidence.verification import verify_image
from jobs.samples import exif_bytes, picture

LIMIT = 89_478_485
_XMP = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'


def pillow_info(data: bytes, max_pixels: int = LIMIT) -> ImageInfo | str:
    """What discovery recorded for the file when Pillow read every JPEG: its header facts, or its error."""
    fp = io.BytesIO(data)
    try:
        with open_image(fp, mime="image/jpeg", max_pixels=max_pixels) as img:
            info = read_info(img, fp, data[:8192])
            verify_image(img, fp, mime="image/jpeg", full=False)
            return info
    except EvidenceError as exc:
        return f"error: {exc}"


def fast_info(data: bytes, max_pixels: int = LIMIT) -> ImageInfo | str | None:
    try:
        return jpeg_info(io.BytesIO(data), size=len(data), max_pixels=max_pixels)
    except EvidenceError as exc:
        return f"error: {exc}"


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def after_soi(data: bytes, *segments: bytes) -> bytes:
    return data[:2] + b"".join(segments) + data[2:]


def without_app0(data: bytes) -> bytes:
    """The JPEG without its JFIF segment (many cameras write none), so the resolution comes from the EXIF."""
    assert data[2:4] == b"\xff\xe0"
    (length,) = struct.unpack(">H", data[4:6])
    return data[:2] + data[4 + length :]


def encoded(mode: str = "RGB", width: int = 48, height: int = 32, **options) -> bytes:
    buffer = io.BytesIO()
    picture(width, height, seed=width).convert(mode).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def resolution_exif(x: tuple[int, int], unit: int | None, orientation: int | None = None) -> bytes:
    zeroth = {piexif.ImageIFD.XResolution: x, piexif.ImageIFD.YResolution: x}
    if unit is not None:
        zeroth[piexif.ImageIFD.ResolutionUnit] = unit
    if orientation is not None:
        zeroth[piexif.ImageIFD.Orientation] = orientation
    return piexif.dump({"0th": zeroth, "Exif": {}, "GPS": {}, "1st": {}, "thumbnail": None})


CAMERA = exif_bytes(make="Canon", model="EOS", taken="2023:05:04 10:30:00", orientation=6)
REGULAR = {
    "camera": lambda: without_app0(encoded(exif=CAMERA)),
    "jfif-dpi": lambda: encoded(dpi=(300, 300)),
    "jfif-and-exif": lambda: encoded(dpi=(96, 96), exif=CAMERA),
    "grey": lambda: encoded("L"),
    "cmyk": lambda: encoded("CMYK"),
    "progressive": lambda: encoded(progressive=True, quality=60),
    "icc-in-pieces": lambda: encoded(icc_profile=bytes(range(256)) * 400),
    "xmp-orientation": lambda: after_soi(encoded(), segment(0xE1, _XMP)),
    "exif-resolution-cm": lambda: without_app0(encoded(exif=resolution_exif((118, 1), 3))),
    "exif-without-resolution": lambda: without_app0(encoded(exif=exif_bytes(make="Nikon"))),
    "comment-and-restart-markers": lambda: encoded(comment=b"case 42", restart_marker_rows=1),
    "jfif-dots-per-cm": lambda: _jfif_unit(encoded(dpi=(118, 118)), 2),
    "icc-pieces-missing": lambda: after_soi(encoded(), segment(0xE2, b"ICC_PROFILE\x00\x01\x02" + b"x" * 20)),
    "landscape-portrait": lambda: encoded(width=31, height=57, exif=resolution_exif((72, 1), 2, orientation=8)),
}
IRREGULAR = {
    "multi-picture": lambda: _mpo(),
    "photoshop": lambda: after_soi(encoded(), segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00")),
    "twelve-bit": lambda: _patched_frame(encoded(), bits=12),
    "two-layers": lambda: _patched_frame(encoded(), layers=2),
    "exif-cut-short": lambda: after_soi(encoded(), segment(0xE1, CAMERA[:40])),
    "over-the-limit": lambda: encoded(width=64, height=64),
}


def _jfif_unit(data: bytes, unit: int) -> bytes:
    at = data.index(b"JFIF\x00") + 7
    return data[:at] + bytes([unit]) + data[at + 1 :]


def _before_scan(data: bytes, extra: bytes) -> bytes:
    at = data.index(b"\xff\xda")
    return data[:at] + extra + data[at:]


def _mpo() -> bytes:
    buffer = io.BytesIO()
    picture(32, 24).save(buffer, "MPO", save_all=True, append_images=[picture(32, 24, 1)])
    return buffer.getvalue()


def _patched_frame(data: bytes, *, bits: int | None = None, layers: int | None = None) -> bytes:
    at = data.index(b"\xff\xc0") + 4  # the frame header's payload
    patched = bytearray(data)
    if bits is not None:
        patched[at] = bits
    if layers is not None:
        patched[at + 5] = layers
    return bytes(patched)


@pytest.mark.parametrize("name", REGULAR)
def test_regular_jpegs_are_read_without_pillow_as_pillow_reads_them(name):
    data = REGULAR[name]()
    fast = fast_info(data)
    assert isinstance(fast, ImageInfo)
    assert fast == pillow_info(data)


@pytest.mark.parametrize("name", IRREGULAR)
def test_irregular_jpegs_are_left_to_pillow(name):
    limit = 64 * 64 - 1 if name == "over-the-limit" else LIMIT
    assert fast_info(IRREGULAR[name](), max_pixels=limit) is None


def test_a_jpeg_cut_in_its_image_data_is_truncated_either_way():
    data = encoded(width=64, height=64)[:-300]
    assert fast_info(data) == pillow_info(data)
    assert str(fast_info(data)).startswith("error: truncated JPEG: end-of-image marker missing")


# Random damage to regular JPEGs: cut anywhere, bytes changed in the header, segments of any kind put in front.
_BASES = [REGULAR[name]() for name in ("camera", "jfif-and-exif", "icc-in-pieces", "xmp-orientation", "grey")]


@st.composite
def damaged_jpegs(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(_BASES)))
    action = draw(st.sampled_from(["cut", "flip", "insert"]))
    if action == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if action == "flip":
        header_end = data.index(b"\xff\xda") + 16
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, header_end))] = draw(st.integers(0, 255))
        return bytes(data)
    kind = draw(st.sampled_from([0xC0, 0xC2, 0xC4, 0xC8, 0xDB, 0xDD, 0xE0, 0xE1, 0xE2, 0xEE, 0xF0, 0xFE, 0x01, 0x02]))
    prefix = draw(st.sampled_from([b"", b"JFIF\x00", b"Exif\x00\x00", b"ICC_PROFILE\x00", b"Adobe", b"MPF\x00"]))
    return after_soi(bytes(data), segment(kind, prefix + draw(st.binary(max_size=40))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_jpegs())
@example(after_soi(encoded(), segment(0xDB, b"\x00" * 30)))  # a quantization table cut short
@example(after_soi(encoded(), segment(0xE0, b"JFIF\x00\x01")))  # a JFIF segment too short for its density
@example(encoded(exif=CAMERA)[:-2] + b"\x00\x00")  # the end-of-image marker overwritten
@example(encoded()[: encoded().index(b"\xff\xda") + 6])  # cut inside the start-of-scan header
@example(_before_scan(encoded(), segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"p" * 30)))  # ICC after the frame
@example(after_soi(encoded(), segment(0xE2, b"ICC_PROFILE\x00\x01")))  # an ICC piece without its count
@example(after_soi(encoded(), b"\xff\x01"))  # a marker without a payload that Pillow does not know
def test_a_damaged_jpeg_read_without_pillow_gives_what_pillow_gives(data):
    fast = fast_info(data)
    if fast is not None:
        assert fast == pillow_info(data)


def test_pillow_still_decides_when_every_pixel_is_checked(tmp_path):
    # A full verification decodes the image, which only Pillow does: discovery does not take the header path then.
    from evidence.probe import probe
    from evidence.walk import walk

    (tmp_path / "photo.jpg").write_bytes(REGULAR["camera"]())
    (entry,) = walk(bytes(tmp_path))
    quick, full = (probe(bytes(tmp_path), entry, max_pixels=LIMIT, full_verify=f) for f in (False, True))
    assert quick.info == full.info
    with Image.open(tmp_path / "photo.jpg") as img:
        assert img.size == (quick.info.width, quick.info.height)


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def test_jpeg_xmp_or_iptc_says_whether_a_reader_of_them_is_needed():
    buffer = io.BytesIO()
    picture(64, 48, 1).save(buffer, "JPEG", exif=exif_bytes(make="Canon"))
    plain = buffer.getvalue()
    assert jpeg_xmp_or_iptc(io.BytesIO(plain)) is False
    assert jpeg_xmp_or_iptc(io.BytesIO(_with_segment(plain, 0xE1, _XMP))) is True
    assert jpeg_xmp_or_iptc(io.BytesIO(_with_segment(plain, 0xED, b"Photoshop 3.0\x008BIM"))) is True
    assert jpeg_xmp_or_iptc(io.BytesIO(_with_segment(plain, 0xED, b"Other\x00"))) is False
    assert jpeg_xmp_or_iptc(io.BytesIO(plain[:40])) is None  # cut off before its image data
    assert jpeg_xmp_or_iptc(io.BytesIO(b"GIF89a")) is None
