"""Generated evidence trees for the benchmarks, built once and kept between runs.

Each tree lives in its own folder under the data directory, next to a `<name>.done` marker that holds the tree's
spec (outside the tree, so a scan never sees it). A tree is rebuilt only when its marker is missing or its spec
changed; an interrupted build leaves no marker, so the next run starts that tree again from an empty folder.
Files are written by a pool of one process per core.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from jobs.samples import Gps, exif_bytes, picture, write_photo

_CAMERAS = (("Canon", "EOS 80D"), ("Apple", "iPhone 12"), ("SONY", "ILCE-7M3"), ("NIKON CORPORATION", "NIKON D750"))
# 1.0, 1.9 and 3.0 megapixels.
_PHOTO_SIZES = ((1152, 864), (1600, 1200), (2000, 1500))
# Sensor-like noise (uniform, +-12 levels per channel) gives camera-like JPEG sizes, about 250 KB per megapixel at
# quality 90; the flat sample pictures alone compress to about 25 KB per megapixel.
_NOISE = 12


@dataclass(frozen=True)
class Dataset:
    name: str
    files: int
    images: int  # files that are decodable images (each with distinct content)
    summary: str
    spec: str  # changing it rebuilds the tree
    write: Callable[[Path, int], None]

    def root(self, data_dir: Path) -> Path:
        return data_dir / self.name


def _exif(i: int, rng: random.Random) -> bytes:
    make, model = _CAMERAS[i % len(_CAMERAS)]
    day = f"2023:{i % 12 + 1:02d}:{i % 28 + 1:02d}"
    gps = Gps(
        lat=round(rng.uniform(-80, 80), 6),
        lon=round(rng.uniform(-179, 179), 6),
        alt=round(rng.uniform(0, 900), 1),
        utc=(day, i % 24, i % 60, (i * 7) % 60),
    )
    return exif_bytes(
        make=make,
        model=model,
        taken=f"{day} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
        offset="+01:00",
        orientation=6 if i % 10 == 0 else 1,
        gps=gps,
    )


def _write_camera_photo(root: Path, i: int) -> None:
    rng = random.Random(i)
    width, height = _PHOTO_SIZES[i % len(_PHOTO_SIZES)]
    pixels = np.asarray(picture(width, height, seed=i), dtype=np.int16)
    pixels += np.random.default_rng(i).integers(-_NOISE, _NOISE + 1, pixels.shape, dtype=np.int16)
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    path = root / f"DCIM/{100 + i // 100}CAMERA/IMG_{i:05d}.JPG"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=90, exif=_exif(i, rng))


def _write_flat_photo(root: Path, i: int) -> None:
    width, height = _PHOTO_SIZES[i % len(_PHOTO_SIZES)]
    path = root / f"DCIM/{100 + i // 100}CAMERA/IMG_{i:05d}.JPG"
    write_photo(path, width=width, height=height, seed=i, exif=_exif(i, random.Random(i)))


def _write_tiff(root: Path, i: int) -> None:
    write_photo(
        root / f"scans/box-{i // 50}/scan_{i:03d}.tif",
        width=4096,
        height=4096,
        seed=i,
        fmt="TIFF",
        exif=_exif(i, random.Random(i)),
    )


def _write_tiny(root: Path, i: int) -> None:
    folder = root / f"d{i // 10_000:02d}/f{i // 100:04d}"
    if i % 2:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note_{i:06d}.txt").write_text(f"exhibit note {i}\n" + "lorem ipsum dolor sit amet " * (i % 7 + 1))
    else:
        exif = _exif(i, random.Random(i))
        write_photo(folder / f"shot_{i:06d}.png", width=24, height=18, seed=i, fmt="PNG", exif=exif)


PHOTOS = Dataset(
    name="photos-2000",
    files=2000,
    images=2000,
    summary="2,000 JPEG photos, 1.0/1.9/3.0 MP, sensor-like noise, quality 90, EXIF with GPS (exif_bytes)",
    spec="v1 noise=12 q=90",
    write=_write_camera_photo,
)
FLAT_PHOTOS = Dataset(
    name="flat-photos-2000",
    files=2000,
    images=2000,
    summary="2,000 JPEG photos, 1.0/1.9/3.0 MP, flat sample pictures (write_photo), EXIF with GPS",
    spec="v1",
    write=_write_flat_photo,
)
TIFFS = Dataset(
    name="tiff-100x50mb",
    files=100,
    images=100,
    summary="100 uncompressed RGB TIFFs, 4096x4096, 50.3 MB each (one strip, EXIF with GPS in the header)",
    spec="v1",
    write=_write_tiff,
)
TINY = Dataset(
    name="tiny-100k",
    files=100_000,
    images=50_000,
    summary="100,000 tiny files in 1,000 folders: 50,000 PNGs of 24x18 px with EXIF, 50,000 text notes",
    spec="v1",
    write=_write_tiny,
)
ALL = (PHOTOS, FLAT_PHOTOS, TIFFS, TINY)


def scaled(dataset: Dataset, scale: float) -> Dataset:
    """The same kind of tree with `scale` of its files (an even number, at least 2), in a folder of its own: for a
    quick run that checks the benchmark works, not for numbers to compare with a full one."""
    if scale == 1:
        return dataset
    files = max(2, 2 * round(dataset.files * scale / 2))
    return replace(
        dataset,
        name=f"{dataset.name}-scaled-{files}",
        files=files,
        images=dataset.images * files // dataset.files,  # every file, or every other one (TINY)
        summary=f"{dataset.summary}; scaled down to {files:,} files",
    )


def _write_range(args: tuple[Dataset, str, int, int]) -> int:
    dataset, root, start, stop = args
    for i in range(start, stop):
        dataset.write(Path(root), i)
    return stop - start


def ensure(dataset: Dataset, data_dir: Path, *, log: Callable[[str], None] = print) -> Path:
    """The dataset's tree, built first if it is missing or was built from another spec."""
    root = dataset.root(data_dir)
    marker = data_dir / f"{dataset.name}.done"
    wanted = json.dumps({"spec": dataset.spec, "files": dataset.files})
    if marker.exists() and marker.read_text() == wanted and root.is_dir():
        return root
    log(f"generating {dataset.name}: {dataset.summary}")
    marker.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    step = max(1, min(500, dataset.files // 20))
    chunks = [(dataset, str(root), s, min(s + step, dataset.files)) for s in range(0, dataset.files, step)]
    with Pool(processes=os.cpu_count() or 1) as pool:
        written = sum(pool.imap_unordered(_write_range, chunks))
    if written != dataset.files:
        raise RuntimeError(f"{dataset.name}: wrote {written} files, expected {dataset.files}")
    marker.write_text(wanted)
    return root
