"""Typing and header facts of every decodable format, the Pillow allowlist (EPS/PS never reach Pillow, so
Ghostscript never runs), decompression bombs and damaged files. Discovery's `probe` is what types a file, so these
tests call it directly on files made here; no Django."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from evidence.images import ImageInfo, open_image
from evidence.opening import EvidenceError, open_evidence
from evidence.probe import Probe, Status, probe
from evidence.walk import walk
from jobs.samples import exif_bytes, picture
from tests.support.images import EPS, bmp_bomb, gif_bomb, jpeg_bomb, jpeg_bytes, png_bomb
from tests.support.processes import child_run

LIMIT = 89_478_485
REPO = Path(__file__).resolve().parents[2]


def probe_file(path: Path, *, max_pixels: int = LIMIT, full: bool = False) -> Probe:
    (entry,) = (e for e in walk(os.fsencode(path.parent)) if e.relpath == os.fsencode(path.name))
    return probe(os.fsencode(path.parent), entry, max_pixels=max_pixels, full_verify=full)


def saved(fmt: str, mode: str = "RGB", frames: int = 1, **options) -> Callable[[Path], None]:
    """A builder that saves a 64x48 picture (or an animation of `frames` pictures) with Pillow."""

    def build(path: Path) -> None:
        pictures = [picture(64, 48, seed).convert("I" if mode == "I;16" else mode).convert(mode) for seed in range(3)]
        if frames > 1:
            options.update(save_all=True, append_images=pictures[1:frames])
        pictures[0].save(path, fmt, **options)

    return build


@dataclass(frozen=True)
class Facts:
    mime: str
    format: str
    mode: str
    bit_depth: int
    dpi: float | None = None
    frames: int = 1


FORMATS = {
    "photo.jpg": (saved("JPEG", dpi=(300, 300)), Facts("image/jpeg", "JPEG", "RGB", 8, 300.0)),
    "grey.jpg": (saved("JPEG", "L"), Facts("image/jpeg", "JPEG", "L", 8)),
    "print.jpg": (saved("JPEG", "CMYK"), Facts("image/jpeg", "JPEG", "CMYK", 8)),
    "alpha.png": (saved("PNG", "RGBA", dpi=(72, 72)), Facts("image/png", "PNG", "RGBA", 8, 72.0)),
    "deep.png": (saved("PNG", "I;16"), Facts("image/png", "PNG", "I;16", 16)),
    "mono.png": (saved("PNG", "1"), Facts("image/png", "PNG", "1", 1)),
    "palette.png": (saved("PNG", "P"), Facts("image/png", "PNG", "P", 8)),
    "animated.gif": (saved("GIF", "P", frames=3), Facts("image/gif", "GIF", "P", 8, frames=3)),
    "photo.webp": (saved("WEBP"), Facts("image/webp", "WEBP", "RGB", 8)),
    "animated.webp": (saved("WEBP", frames=2), Facts("image/webp", "WEBP", "RGB", 8, frames=2)),
    "scan.tif": (saved("TIFF", dpi=(150, 150)), Facts("image/tiff", "TIFF", "RGB", 8, 150.0)),
    "deep.tif": (saved("TIFF", "I;16"), Facts("image/tiff", "TIFF", "I;16", 16)),
    "photo.bmp": (saved("BMP", dpi=(300, 300)), Facts("image/bmp", "BMP", "RGB", 8, 300.0)),
    "photo.heic": (saved("HEIF"), Facts("image/heic", "HEIF", "RGB", 8)),
    "photo.avif": (saved("AVIF"), Facts("image/avif", "AVIF", "RGB", 8)),
}


@pytest.mark.parametrize("name", FORMATS)
def test_every_decodable_format_is_an_image_with_its_header_facts(tmp_path, name):
    build, facts = FORMATS[name]
    build(tmp_path / name)
    result = probe_file(tmp_path / name)
    assert (result.status, result.error, result.mime) == (Status.IMAGE, "", facts.mime)
    info = result.info
    assert (info.format, info.width, info.height, info.mode, info.bit_depth, info.frames) == (
        facts.format, 64, 48, facts.mode, facts.bit_depth, facts.frames,
    )  # fmt: skip
    if facts.dpi is None:
        assert (info.dpi_x, info.dpi_y) == (None, None)
    else:
        # PNG and BMP store pixels per metre, so 72 dpi comes back as 72.009.
        assert info.dpi_x == pytest.approx(facts.dpi, abs=0.01)
        assert info.dpi_y == pytest.approx(facts.dpi, abs=0.01)


def _stored_sizes(record: dict) -> set[tuple[int, int]]:
    """Every (width, height) exiftool found in a file's headers (File:, PNG:, RIFF:, GIF:, EXIF: groups)."""
    return {(v, record[k.replace("Width", "Height")]) for k, v in record.items() if k.endswith(":ImageWidth")}


def test_stored_sizes_agree_with_exiftool(tmp_path, exiftool):
    # HEIC is left out: exiftool 12.57 reports its coded size (64x64 here), not the clean aperture that is shown.
    names = [name for name in FORMATS if not name.endswith(".heic")]
    for name in names:
        FORMATS[name][0](tmp_path / name)
    reference = exiftool(*(tmp_path / name for name in names))
    for name in names:
        info = probe_file(tmp_path / name).info
        assert (info.width, info.height) in _stored_sizes(reference[name]), name


TURNED = {
    "jpg": lambda path, o: path.write_bytes(_encoded("JPEG", exif=exif_bytes(orientation=o))),
    "png": lambda path, o: path.write_bytes(_encoded("PNG", exif=exif_bytes(orientation=o))),
    "webp": lambda path, o: path.write_bytes(_encoded("WEBP", exif=exif_bytes(orientation=o))),
    "heic": lambda path, o: path.write_bytes(_encoded("HEIF", exif=exif_bytes(orientation=o))),
    "avif": lambda path, o: path.write_bytes(_encoded("AVIF", exif=exif_bytes(orientation=o))),
}


def _encoded(fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture(64, 48).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", [6, 8, 3, 1])
@pytest.mark.parametrize("ext", TURNED)
def test_orientation_gives_the_stored_and_the_displayed_size(tmp_path, exiftool, ext, orientation):
    path = tmp_path / f"turned.{ext}"
    TURNED[ext](path, orientation)
    info = probe_file(path).info
    assert (info.width, info.height) == (64, 48)
    assert info.display_size == ((48, 64) if orientation in (6, 8) else (64, 48))
    if ext == "avif":
        # Pillow writes the orientation of an AVIF as the container's rotation and reads it back from there; an
        # upright picture then has no orientation at all.
        assert info.orientation == (None if orientation == 1 else orientation)
        return
    stored = exiftool(path)[path.name]
    assert info.orientation == stored["EXIF:Orientation"] == orientation
    if ext != "heic":  # see test_stored_sizes_agree_with_exiftool
        assert (info.width, info.height) in _stored_sizes(stored)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_display_size_turns_for_orientations_5_to_8_only(orientation):
    info = ImageInfo("JPEG", 640, 480, orientation, "RGB", 8, None, None, 1, False)
    assert info.display_size == ((480, 640) if orientation >= 5 else (640, 480))


BOMBS = {"bomb.png": png_bomb, "bomb.gif": gif_bomb, "bomb.bmp": bmp_bomb, "bomb.jpg": jpeg_bomb}


@pytest.mark.parametrize("name", BOMBS)
def test_a_header_claiming_30000x30000_pixels_is_a_decompression_bomb_error(tmp_path, name):
    (tmp_path / name).write_bytes(BOMBS[name]())
    result = probe_file(tmp_path / name)
    assert result.status == Status.ERROR
    assert result.error == f"decompression bomb: 30000x30000 exceeds the pixel limit ({LIMIT} pixels)"
    assert result.sha256  # the file is still hashed and accounted for


def test_the_configured_pixel_limit_is_the_one_applied(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(jpeg_bytes(64, 48))
    assert probe_file(tmp_path / "photo.jpg", max_pixels=64 * 48).status == Status.IMAGE
    result = probe_file(tmp_path / "photo.jpg", max_pixels=64 * 48 - 1)
    assert result.error == f"decompression bomb: 64x48 exceeds the pixel limit ({64 * 48 - 1} pixels)"


def _cut(fmt: str) -> bytes:
    data = _encoded(fmt)
    return data[: len(data) * 2 // 3]


def _bad_crc() -> bytes:
    data = bytearray(_encoded("PNG"))
    data[data.index(b"IDAT") + 10] ^= 0xFF
    return bytes(data)


# name -> (content, words of the error in the default "structure" check)
DAMAGED = {
    "cut.jpg": (lambda: _cut("JPEG"), "truncated JPEG: end-of-image marker missing"),
    "cut.png": (lambda: _cut("PNG"), "truncated PNG"),
    "bad-crc.png": (_bad_crc, "corrupt PNG: broken PNG file"),
    "garbage.png": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "corrupt PNG"),
    "garbage.jpg": (lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt JPEG"),
    "no-signature.jpg": (lambda: bytes(range(7, 256)) * 2, "corrupt JPEG: cannot identify image file"),
    "cut.webp": (lambda: _cut("WEBP"), "corrupt WebP"),
    "cut.avif": (lambda: _cut("AVIF"), "truncated AVIF: file ends at byte"),
    "cut.gif": (lambda: _cut("GIF"), "truncated GIF: trailer missing"),
    "cut.tif": (lambda: _cut("TIFF"), "truncated TIFF: image data ends at byte"),
    "cut.bmp": (lambda: _cut("BMP"), "truncated BMP: pixel data ends at byte"),
    "cut.heic": (lambda: _cut("HEIF"), "truncated HEIF: file ends at byte"),
    "zero.jpg": (lambda: b"", "zero-byte file"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_images_are_errors_with_a_clear_message(tmp_path, name):
    content, words = DAMAGED[name]
    (tmp_path / name).write_bytes(content())
    full = probe_file(tmp_path / name, full=True)
    assert full.status == Status.ERROR
    assert full.error.startswith(("truncated ", "corrupt ", "zero-byte file")), full.error
    assert "\n" not in full.error
    quick = probe_file(tmp_path / name)
    assert quick.status == Status.ERROR
    assert words in quick.error


def test_an_image_extension_on_text_is_skipped_and_the_mismatch_noted(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    result = probe_file(tmp_path / "notes.jpg")
    assert (result.status, result.mime) == (Status.SKIPPED, "text/plain")
    assert result.note == "the .jpg extension does not match the content (text/plain)"


def test_content_decides_the_type_not_the_extension(tmp_path):
    (tmp_path / "really-a-jpeg.png").write_bytes(jpeg_bytes())
    result = probe_file(tmp_path / "really-a-jpeg.png")
    assert (result.status, result.mime, result.info.format) == (Status.IMAGE, "image/jpeg", "JPEG")


POSTSCRIPT = {
    "document.eps": EPS,
    "disguised.jpg": EPS,
    "page.ps": b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n",
    # A DOS EPS binary header (C5D0D3C6), PostScript section right after it.
    "binary.eps": b"\xc5\xd0\xd3\xc6" + (30).to_bytes(4, "little") + len(EPS).to_bytes(4, "little") + bytes(18)
    + b"\xff\xff" + EPS,
}  # fmt: skip

# Runs with a fake `gs` first on PATH that leaves a mark when it is started: typing the PostScript files must not
# start it, and opening one with Pillow's own EPS plugin (the control) must, which proves the mark works.
_GHOSTSCRIPT_CHECK = """
import json, os, sys
from evidence.probe import probe
from evidence.walk import walk
root, mark = sys.argv[1].encode(), sys.argv[2]
results = {e.relpath.decode(): [str(p.status), p.mime, p.note] for e in walk(root)
           for p in [probe(root, e, max_pixels=1000000)]}
typed_without_gs = not os.path.exists(mark)
from PIL import Image
try:
    Image.open(os.path.join(sys.argv[1], "document.eps")).load()
except Exception:
    pass
print(json.dumps({"results": results, "typed_without_gs": typed_without_gs, "control_ran_gs": os.path.exists(mark)}))
"""


@pytest.mark.integration
def test_postscript_is_skipped_with_its_type_and_ghostscript_never_runs(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name, data in POSTSCRIPT.items():
        (source / name).write_bytes(data)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "gs").write_text('#!/bin/sh\ntouch "$GS_MARK"\nexit 1\n')
    (fake_bin / "gs").chmod(stat.S_IRWXU)
    mark = tmp_path / "gs-ran"
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "GS_MARK": str(mark)}
    done = child_run(
        [sys.executable, "-c", _GHOSTSCRIPT_CHECK, str(source), str(mark)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["typed_without_gs"] is True
    assert report["control_ran_gs"] is True
    for name, (status, mime, _note) in report["results"].items():
        assert status == "skipped", name
        assert mime in ("application/postscript", "image/x-eps"), name
    assert report["results"]["disguised.jpg"][2] == (
        "the .jpg extension does not match the content (application/postscript)"
    )


def test_the_allowlist_holds_even_when_the_type_is_wrong(tmp_path):
    """Told a PostScript file is a JPEG, `open_image` still lets only the JPEG plugin near it."""
    with pytest.raises(EvidenceError, match=r"^corrupt JPEG"):
        open_image(io.BytesIO(EPS), mime="image/jpeg", max_pixels=LIMIT)
    with pytest.raises(EvidenceError, match="not a decodable image type: application/postscript"):
        open_image(io.BytesIO(EPS), mime="application/postscript", max_pixels=LIMIT)


def test_open_evidence_refuses_links_folders_and_fifos(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "link.jpg").symlink_to("photo.jpg")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(EvidenceError, match="replaced by a symbolic link"):  # O_NOFOLLOW: ELOOP
        open_evidence(tmp_path / "link.jpg")
    with pytest.raises(EvidenceError, match="not a regular file"):
        open_evidence(tmp_path)
    with pytest.raises(EvidenceError, match="not a regular file"):
        open_evidence(tmp_path / "fifo")  # returns at once: O_NONBLOCK
    with open_evidence(tmp_path / "photo.jpg") as fp, Image.open(fp) as img:
        assert img.size == (32, 24)
