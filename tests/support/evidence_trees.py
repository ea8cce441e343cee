"""Evidence trees for the job tests: every kind of bad input an evidence folder holds, each with what the scan
must record for it, and the checks of what a job recorded against that."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs.models import FileInstance, Job, JobImage
from jobs.samples import Gps, exif_bytes, write_photo
from tests.support.images import EPS, hostile_exif_blocks, jpeg_bytes, png_bomb, with_app1

PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
PIXEL_LIMIT = 89_478_485  # SCAN_MAX_IMAGE_PIXELS's default, which the test settings keep
BOMB_30000 = f"decompression bomb: 30000x30000 exceeds the pixel limit ({PIXEL_LIMIT} pixels)"


@dataclass(frozen=True)
class Expected:
    """What the scan must record for one entry: its status, words its error (or, when skipped, its note) must
    contain, and the type it was given."""

    status: str
    message: str = ""
    mime: str = ""


def image(mime: str = "image/jpeg") -> Expected:
    return Expected("image", mime=mime)


def skipped(message: str, mime: str = "") -> Expected:
    return Expected("skipped", message, mime)


def error(message: str, mime: str = "") -> Expected:
    return Expected("error", message, mime)


def _write(root: Path, relpath: bytes, data: bytes) -> None:
    path = os.path.join(os.fsencode(root), relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)


def _long_name(seed: int, length: int = 200) -> bytes:
    """`length` bytes of hexadecimal that do not repeat (up to 256): a name that compresses as badly as a real one."""
    return b"".join(hashlib.sha512(f"{seed}-{half}".encode()).hexdigest().encode() for half in (0, 1))[:length]


def build_long_paths(root: Path) -> dict[bytes, Expected]:
    """A photo at a path of about 3,000 bytes, and folders nested (with descriptors, as a mounted evidence disk can
    hold them) far beyond the path length the OS accepts, with a photo half-way down and one at the bottom."""
    relpath = b"long/" + b"/".join(_long_name(i) for i in range(15)) + b"/photo.jpg"
    _write(root, relpath, jpeg_bytes(seed=7))
    expected = {relpath: image()}
    relpath = b"beyond"
    os.mkdir(root / "beyond")
    fd = os.open(root / "beyond", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth in range(20):
            name = _long_name(100 + depth, 250)
            os.mkdir(name, dir_fd=fd)
            relpath += b"/" + name
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if depth in (5, 19):
                out = os.open(b"photo.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, jpeg_bytes(seed=8 + depth))
                os.close(out)
                expected[relpath + b"/photo.jpg"] = image()
    finally:
        os.close(fd)
    assert len(os.fsencode(root)) + 1 + len(relpath) > PATH_MAX
    return expected


def build_hostile_tree(root: Path) -> dict[bytes, Expected]:
    """Fill `root` with good photos, a duplicate, and every bad input the scanner must survive. Returns what each
    entry must become, by relative path (bytes: names need not be UTF-8)."""
    expected: dict[bytes, Expected] = {}
    canon = exif_bytes(make="Canon", model="EOS 80D", taken="2023:05:04 10:30:00", offset="+01:00",
                       gps=Gps(51.5007, -0.1246, 12.0, ("2023:05:04", 9, 30, 0)))  # fmt: skip
    turned = exif_bytes(make="Apple", model="iPhone 12", orientation=6, gps=Gps(-33.8568, 151.2153))
    first = write_photo(root / "photos" / "IMG_0001.jpg", seed=1, exif=canon).read_bytes()
    write_photo(root / "photos" / "IMG_0002.jpg", seed=2, exif=turned)
    write_photo(root / "photos" / "screen.png", width=320, height=200, seed=3, fmt="PNG")
    _write(root, b"copies/copy of IMG_0001.jpg", first)
    expected.update({
        b"photos/IMG_0001.jpg": image(),
        b"photos/IMG_0002.jpg": image(),
        b"photos/screen.png": image("image/png"),
        b"copies/copy of IMG_0001.jpg": image(),
    })  # fmt: skip

    names = {b"names/line\nbreak.jpg": 4, b"names/  spaced   name .jpg": 5, b"names/caf\xe9 (latin-1).jpg": 6}
    for relpath, seed in names.items():
        _write(root, relpath, jpeg_bytes(seed=seed))
        expected[relpath] = image()

    cut = jpeg_bytes(200, 150, seed=9)
    broken = {
        b"broken/truncated.jpg": (cut[: len(cut) // 2], error("truncated JPEG", "image/jpeg")),
        b"broken/zero.jpg": (b"", error("zero-byte file")),
        b"broken/empty": (b"", skipped("zero-byte file", "inode/x-empty")),
        b"broken/corrupt.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), error("corrupt PNG", "image/png")),
        b"broken/bomb.png": (png_bomb(), error(BOMB_30000, "image/png")),
        b"broken/hostile-exif.jpg": (with_app1(jpeg_bytes(seed=10), hostile_exif_blocks()["ifd-loop"]), image()),
        b"broken/document.eps": (EPS, skipped("", "application/postscript")),
        b"broken/disguised.jpg": (EPS, skipped("extension does not match the content", "application/postscript")),
        b"broken/notes.txt": (b"Exhibit notes: nothing here is an image.\n", skipped("", "text/plain")),
    }  # fmt: skip
    for relpath, (data, outcome) in broken.items():
        _write(root, relpath, data)
        expected[relpath] = outcome

    links = root / "links"
    links.mkdir()
    (links / "loop-a").symlink_to("loop-b")
    (links / "loop-b").symlink_to("loop-a")
    (links / "self").symlink_to("self")
    (links / "outside-relative").symlink_to("../../outside.jpg")
    (links / "outside-absolute").symlink_to("/etc/passwd")
    (links / "inside").symlink_to("../photos/IMG_0001.jpg")
    (links / "parent").symlink_to("..")
    (links / "dangling").symlink_to("missing.jpg")
    expected.update({
        b"links/loop-a": error("symlink loop", "inode/symlink"),
        b"links/loop-b": error("symlink loop", "inode/symlink"),
        b"links/self": error("symlink loop", "inode/symlink"),
        b"links/outside-relative": skipped("pointing outside the source, not followed", "inode/symlink"),
        b"links/outside-absolute": skipped("pointing outside the source, not followed", "inode/symlink"),
        b"links/inside": skipped("symbolic link to ../photos/IMG_0001.jpg", "inode/symlink"),
        b"links/parent": skipped("symbolic link to ..", "inode/symlink"),
        b"links/dangling": error("broken symbolic link", "inode/symlink"),
    })  # fmt: skip

    special = root / "special"
    special.mkdir()
    os.mkfifo(special / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(special / "socket"))
    expected[b"special/fifo"] = skipped("not a regular file (fifo)", "inode/fifo")
    expected[b"special/socket"] = skipped("not a regular file (socket)", "inode/socket")
    return expected


def build_unreadable_tree(root: Path) -> dict[bytes, Expected]:
    """Entries only an unprivileged scan finds unreadable (root reads through permission bits)."""
    write_photo(root / "readable.jpg", width=64, height=48)
    write_photo(root / "secret.jpg", width=64, height=48, seed=1).chmod(0o000)
    write_photo(root / "locked" / "hidden.jpg", width=64, height=48, seed=2)
    (root / "locked").chmod(0o000)
    write_photo(root / "no-search" / "inside.jpg", width=64, height=48, seed=3)
    (root / "no-search").chmod(0o744)  # others may list the names but not reach the files
    return {
        b"readable.jpg": image(),
        b"secret.jpg": error("permission denied"),
        b"locked": error("cannot list folder: permission denied", "inode/directory"),
        b"no-search/inside.jpg": error("permission denied"),
    }


@contextmanager
def source_folder(prefix: str) -> Iterator[Path]:
    """An empty source folder that every user can traverse, in a parent of its own that holds one more file,
    `outside.jpg` (the links test points there). Removed afterwards whatever was made in it, however deep: root
    ignores permission bits and rmtree works by descriptors."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        base.chmod(0o755)
        (base / "outside.jpg").write_bytes(jpeg_bytes(seed=99))
        root = base / "source"
        root.mkdir()
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(base)


def mismatches(found: dict[bytes, dict], expected: dict[bytes, Expected]) -> list[str]:
    """Differences between what was recorded per entry ({status, error, note, mime}) and what was expected."""
    problems = [f"{path!r}: expected, not found" for path in expected.keys() - found.keys()]
    problems += [f"{path!r}: found, not expected ({found[path]})" for path in found.keys() - expected.keys()]
    for path in expected.keys() & found.keys():
        want, got = expected[path], found[path]
        message = got["error"] if want.status == "error" else got["note"]
        if got["status"] != want.status or want.message not in message or (want.mime and got["mime"] != want.mime):
            problems.append(f"{path!r}: expected {want}, got {got}")
        if got["status"] == "error" and not got["error"]:
            problems.append(f"{path!r}: an error without a message")
    return problems


def recorded(job: Job) -> dict[bytes, dict]:
    """What a job recorded per entry, by exact relative path, in the shape `mismatches` compares."""
    return {
        row.raw_path: {"status": row.status, "error": row.error, "note": row.note, "mime": row.mime}
        for row in FileInstance.objects.filter(job=job)
    }


def assert_counters_add_up(job: Job) -> None:
    """images + skipped + errors = files seen, and each counter is what the file instances say."""
    job.refresh_from_db()
    rows = FileInstance.objects.filter(job=job)
    statuses = Counter(rows.values_list("status", flat=True))
    assert set(statuses) <= {"image", "skipped", "error"}
    assert job.images + job.skipped + job.errors == job.files_seen == rows.count()
    assert (job.images, job.skipped, job.errors) == (statuses["image"], statuses["skipped"], statuses["error"])
    distinct = rows.filter(status="image").values("image_id").distinct().count()
    assert job.distinct_images == distinct == JobImage.objects.filter(job=job).count()
    assert not rows.filter(status="error", error="").exists()
    assert not rows.filter(status="image", image__isnull=True).exists()
