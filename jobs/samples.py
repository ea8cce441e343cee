"""Generated evidence for the demo, the tests and the benchmarks: photos with real EXIF/GPS (written by piexif),
duplicates, damaged files and non-images. Nothing here is used by a scan."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import piexif
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Gps:
    lat: float
    lon: float
    alt: float | None = None
    utc: tuple[str, int, int, int] | None = None  # ("2021:06:01", h, m, s)


def _rational(value: float, denominator: int = 10000) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(denominator)
    return frac.numerator, frac.denominator


def _dms(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return (degrees, 1), (minutes, 1), (round(seconds * 1000), 1000)


def exif_bytes(
    *,
    make: str = "",
    model: str = "",
    taken: str = "",
    offset: str = "",
    orientation: int | None = None,
    gps: Gps | None = None,
) -> bytes:
    """A real EXIF block, as cameras write it."""
    zeroth: dict[int, object] = {}
    exif: dict[int, object] = {}
    gps_ifd: dict[int, object] = {}
    if make:
        zeroth[piexif.ImageIFD.Make] = make.encode()
    if model:
        zeroth[piexif.ImageIFD.Model] = model.encode()
    if orientation:
        zeroth[piexif.ImageIFD.Orientation] = orientation
    if taken:
        exif[piexif.ExifIFD.DateTimeOriginal] = taken.encode()
    if offset:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    if gps is not None:
        gps_ifd[piexif.GPSIFD.GPSLatitudeRef] = b"N" if gps.lat >= 0 else b"S"
        gps_ifd[piexif.GPSIFD.GPSLatitude] = _dms(gps.lat)
        gps_ifd[piexif.GPSIFD.GPSLongitudeRef] = b"E" if gps.lon >= 0 else b"W"
        gps_ifd[piexif.GPSIFD.GPSLongitude] = _dms(gps.lon)
        if gps.alt is not None:
            gps_ifd[piexif.GPSIFD.GPSAltitudeRef] = 0 if gps.alt >= 0 else 1
            gps_ifd[piexif.GPSIFD.GPSAltitude] = _rational(abs(gps.alt), 100)
        if gps.utc is not None:
            day, h, m, s = gps.utc
            gps_ifd[piexif.GPSIFD.GPSDateStamp] = day.encode()
            gps_ifd[piexif.GPSIFD.GPSTimeStamp] = ((h, 1), (m, 1), (s, 1))
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps_ifd, "1st": {}, "thumbnail": None})


def picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A picture with some structure (sky, ground, shapes), different for every seed."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (rng.randrange(60, 200), rng.randrange(90, 220), 235))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(rng.randrange(40, 120), rng.randrange(90, 160), 60))
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(2, min(width, height) // 20), max(3, min(width, height) // 5))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return img


def write_photo(
    path: Path, *, width: int = 640, height: int = 480, seed: int = 0, fmt: str = "JPEG", exif: bytes = b"", **save
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    options = {"exif": exif} if exif else {}
    if fmt == "JPEG":
        options["quality"] = save.pop("quality", 85)
    picture(width, height, seed).save(buffer, fmt, **options, **save)
    path.write_bytes(buffer.getvalue())
    return path


def make_sample_tree(root: Path) -> dict[str, int]:
    """The demo evidence folder: a few cameras' photos with EXIF and GPS in nested folders, a copy of one photo
    at a second path, a truncated JPEG, a text file and a PNG screenshot. Returns expected counts."""
    cameras = [("Canon", "EOS 80D"), ("Apple", "iPhone 12"), ("SONY", "ILCE-7M3")]
    places = [Gps(51.5007, -0.1246, 12.0, ("2023:05:04", 10, 30, 0)), Gps(-33.8568, 151.2153, 5.0), None]
    photos = []
    for i in range(9):
        make, model = cameras[i % 3]
        exif = exif_bytes(
            make=make,
            model=model,
            taken=f"2023:05:0{i % 9 + 1} 1{i}:00:00",
            offset="+01:00",
            orientation=6 if i == 4 else 1,
            gps=places[i % 3],
        )
        photos.append(write_photo(root / f"camera-{i % 3}" / f"DCIM/IMG_{1000 + i}.jpg", seed=i, exif=exif))
    (root / "copies").mkdir(parents=True, exist_ok=True)
    (root / "copies" / "holiday.jpg").write_bytes(photos[0].read_bytes())
    write_photo(root / "screenshots" / "screen.png", width=800, height=450, seed=99, fmt="PNG")
    whole = photos[1].read_bytes()
    (root / "damaged").mkdir(parents=True, exist_ok=True)
    (root / "damaged" / "cut-off.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("Exhibit notes: nothing in here is an image.\n")
    return {"files": 13, "images": 11, "distinct": 10, "skipped": 1, "errors": 1}


# Real photographs that installed packages ship (never committed here): (package, path inside it) by the name they
# get in a sample folder. scikit-image is a dependency of insightface, so both come with the faces stage.
PACKAGED_PHOTOS = {
    "people/astronaut.png": ("skimage", "data/astronaut.png"),
    "people/six-people.jpg": ("insightface", "data/images/t1.jpg"),
}
PACKAGED_PHOTOS_WITHOUT_PEOPLE = {
    "objects/coffee.png": ("skimage", "data/coffee.png"),
    "objects/rocket.jpg": ("skimage", "data/rocket.jpg"),
    "objects/cat.png": ("skimage", "data/chelsea.png"),
}


def packaged_photo(package: str, relative: str) -> Path | None:
    """Where an installed package keeps a file, without importing the package; None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def add_packaged_photos(root: Path, photos: dict[str, tuple[str, str]] = PACKAGED_PHOTOS) -> list[str]:
    """Copy the packaged photographs that are installed here into `root`; the names copied."""
    copied = []
    for name, (package, relative) in photos.items():
        source = packaged_photo(package, relative)
        if source is not None:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(source.read_bytes())
            copied.append(name)
    return copied
