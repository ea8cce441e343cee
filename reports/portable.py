"""A portable case: a folder (or a zip of one) that another examiner opens without this system. It holds the case's
selected images copied byte for byte from the evidence, an offline viewer (index.html), the file-instance exports
of the case's jobs, any further files the caller passes in (a report, interchange exports) and a SHA256SUMS over
every file, with a README saying what it is and how to check it.

    portable_case_write(case=..., user=..., destination=Path, selection=..., extra_files=[PortableFile(...)])
    portable_case_zip(case=..., user=..., out=binary stream, selection=..., extra_files=[...])

A PortableFile is a relative name and a function that writes the file's bytes to a binary stream; it is hashed
into SHA256SUMS like every other file.

Only someone who may see the case (cases.access; None: the operator at the command line) makes one, and only the
case's own images go in. The evidence is only read (jobs.evidence_files), and a folder is never written inside a
job's source or SOURCES_ROOT. Each one made, and each refusal, is in the audit log (`case.portable`)."""

from __future__ import annotations

import abc
import hashlib
import io
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record, user_name
from cases.access import CaseAction, case_allows
from cases.models import Case
from jobs.evidence_files import EvidenceUnavailable, open_file_instance
from jobs.models import Job
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from records.formats import records_write
from reports.portable_index import IMAGE_FIELDS, PortableMade, image_record, index_render, readme_render
from reports.portable_selection import (
    PortableImage,
    PortableSelection,
    SelectionError,
    image_instances,
    portable_images,
    selected_image_ids,
    selection_check,
)

__all__ = [
    "PortableFile",
    "PortableRefused",
    "PortableResult",
    "PortableSelection",
    "SelectionError",
    "portable_case_write",
    "portable_case_zip",
]

User = AbstractBaseUser | AnonymousUser
CHUNK = 1 << 20
# The names the portable case writes itself; a file passed in takes none of them.
RESERVED = frozenset({"index.html", "README.txt", "SHA256SUMS", "exports/files.csv", "exports/files.jsonl",
                      "exports/images.csv", "exports/images.jsonl"})  # fmt: skip
# A name a file passed in may have: plain words in plain folders, nothing a shell, sha256sum or a zip tool reads
# another way.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,3}")
# An image's extension in the folder, by the format its content was read as (never the name it was found with: a
# suspect's "photo.html" would open as a page). Any other format: .bin, which nothing opens by itself.
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
                     "TIFF": ".tif", "HEIF": ".heic", "AVIF": ".avif"}  # fmt: skip


class PortableRefused(Exception):
    """The portable case cannot be made: the user may not see the case, the destination is not a new empty
    folder outside the evidence, or writing into it failed (a full or read-only disk). On the record already."""


@dataclass(frozen=True)
class PortableFile:
    """A further file of the portable case: `name` relative to its folder ("report.html", "exports/vics.json"),
    and `write`, which writes its bytes to the binary stream it is given (and does not close it)."""

    name: str
    write: Callable[[BinaryIO], None]


@dataclass
class PortableResult:
    """What was made: where (a folder, or "" for a zip), how many images were copied, those that could not be
    read as the scan recorded them (SHA-256 and why), every file's SHA-256, and the SHA-256 of SHA256SUMS."""

    destination: str
    images: int = 0
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    sums: dict[str, str] = field(default_factory=dict)
    sha256sums: str = ""


class _Hashing(io.RawIOBase):
    """A write-only stream that passes everything to `target` and hashes it on the way."""

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self.target, self.digest = target, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.target.write(view)
        self.digest.update(view)
        return len(view)


class _Sink(abc.ABC):
    """Where the files go: a folder or a zip. Records each file's SHA-256 as it is written."""

    def __init__(self) -> None:
        self.sums: dict[str, str] = {}

    @contextmanager
    def open(self, name: str) -> Iterator[_Hashing]:
        """A new file `name`, written through the stream given, hashed on the way."""
        if name in self.sums:
            raise ValueError(f"the portable case already holds {name}")
        with self._target(name) as target:
            stream = _Hashing(target)
            yield stream
        self.sums[name] = stream.digest.hexdigest()

    @abc.abstractmethod
    def _target(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    @abc.abstractmethod
    def staged(self) -> AbstractContextManager[BinaryIO]:
        """A scratch file for an image's bytes, checked before they go in (`place`) and dropped after."""

    @abc.abstractmethod
    def place(self, name: str, staged: BinaryIO, digest: str) -> None:
        """The scratch file's bytes, whose SHA-256 is `digest`, become the file `name`."""


class _FolderSink(_Sink):
    """Files made with plain `open` (the mode the umask gives, like any file the examiner makes) and renamed, never
    linked: a USB disk (FAT, exFAT) or a network share takes them as well as a local disk."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self._staging = 0

    @contextmanager
    def _target(self, name: str) -> Iterator[BinaryIO]:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fp:
            yield fp

    @contextmanager
    def staged(self) -> Iterator[BinaryIO]:
        self._staging += 1
        path = self.root / f".partial-{self._staging}"
        try:
            with open(path, "xb") as fp:
                yield fp
        finally:
            if os.path.lexists(path):
                os.unlink(path)

    def place(self, name: str, staged: BinaryIO, digest: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        staged.flush()
        with open(path, "xb"):  # the name taken: fails rather than replace a file already there
            pass
        os.replace(staged.name, path)
        self.sums[name] = digest


class _ZipSink(_Sink):
    def __init__(self, archive: zipfile.ZipFile, folder: str, scratch: Path) -> None:
        super().__init__()
        self.archive, self.folder, self.scratch = archive, folder, scratch

    def _entry(self, name: str, compress: bool) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(f"{self.folder}/{name}", date_time=time.localtime()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        entry.external_attr = 0o644 << 16
        return entry

    @contextmanager
    def _target(self, name: str) -> Iterator[BinaryIO]:
        with self.archive.open(self._entry(name, compress=True), "w", force_zip64=True) as fp:
            yield fp

    @contextmanager
    def staged(self) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile(dir=self.scratch) as fp:
            yield fp

    def place(self, name: str, staged: BinaryIO, digest: str) -> None:
        staged.seek(0)
        # Pictures are compressed already: stored as they are.
        with self.archive.open(self._entry(name, compress=False), "w", force_zip64=True) as fp:
            shutil.copyfileobj(staged, fp, CHUNK)
        self.sums[name] = digest


def _refuse(case: Case, why: str) -> PortableRefused:
    audit_record("case.portable", outcome=AuditEvent.Outcome.REFUSED, target=case.reference, detail=why)
    return PortableRefused(why)


def _access_check(case: Case, user: User | None) -> None:
    if user is not None and not case_allows(case_id=case.pk, user=user, action=CaseAction.VIEW):
        raise _refuse(case, f"{user_name(user) if user.is_authenticated else 'anonymous'} may not see this case")


def _extras_check(case: Case, extra_files: list[PortableFile]) -> None:
    """Refuse a name the case writes itself, or one another file has: as a disk that ignores case (FAT, exFAT,
    NTFS, macOS) would read it, so nothing there is ever written over."""
    names = [extra.name.lower() for extra in extra_files]
    reserved = {name.lower() for name in RESERVED} | {"images", "exports"}
    for extra, name in zip(extra_files, names, strict=True):
        if not SAFE_NAME.fullmatch(name) or name in reserved or name.startswith("images/") or ".." in name:
            raise _refuse(case, f"a file passed in may not be called {extra.name!r}")
    if len(set(names)) != len(names):
        raise _refuse(case, "two files passed in have the same name")


def evidence_roots() -> list[str]:
    """Every folder evidence lies in: SOURCES_ROOT and each job's source, links resolved."""
    sources = Job.objects.values_list("source_path", flat=True).distinct()
    return sorted({os.path.realpath(settings.SOURCES_ROOT), *(os.path.realpath(path) for path in sources)})


def _destination_make(case: Case, destination: Path) -> Path:
    """`destination` made (or found empty), links resolved; refused inside any evidence folder, or not empty."""
    real = os.path.realpath(destination)
    for root in evidence_roots():
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            raise _refuse(case, f"{destination} lies in the evidence ({root}): nothing is ever written there")
    if os.path.lexists(destination) and not os.path.isdir(destination):
        raise _refuse(case, f"{destination} exists and is not a folder")
    try:
        os.makedirs(real, exist_ok=True)
        if os.listdir(real):
            raise _refuse(case, f"{destination} is not empty: a portable case goes into a new or empty folder")
    except OSError as exc:
        raise _refuse(case, f"cannot make {destination}: {exc.strerror}") from None
    return Path(real)


def image_name(item: PortableImage) -> str:
    """The image's name in the folder: its SHA-256 and its format's extension (FORMAT_EXTENSIONS); nothing of the
    names it was found with."""
    return f"images/{item.image.sha256}{FORMAT_EXTENSIONS.get(item.image.format, '.bin')}"


class _Unreadable(Exception):
    """The evidence file could not be opened or read (the message says why)."""


def _evidence_blocks(instance) -> Iterator[bytes]:
    """The bytes of the evidence file, a block at a time; _Unreadable when it cannot be opened or read. Only the
    evidence is read here: what the caller does with a block (writing it out) fails as itself."""
    try:
        with open_file_instance(job=instance.job, instance=instance) as evidence:
            while block := evidence.read(CHUNK):
                yield block
    except (EvidenceUnavailable, OSError) as exc:
        raise _Unreadable(str(exc)) from exc


def _image_copy(sink: _Sink, case: Case, item: PortableImage, name: str) -> str:
    """Copy the image's bytes from the first of its files that still holds them into `name`; "" when copied, else
    why none could be. An error writing the copy (a full disk) is raised as it is: it is no fault of the evidence."""
    why = "no file of the case's jobs holds it"
    for instance in image_instances(case=case, image=item.image):
        with sink.staged() as staged:
            digest = hashlib.sha256()
            try:
                for block in _evidence_blocks(instance):
                    digest.update(block)
                    staged.write(block)
            except _Unreadable as exc:
                why = str(exc)
                continue
            if digest.hexdigest() != item.image.sha256:
                why = "the evidence file changed since the scan (SHA-256 differs)"
                continue
            sink.place(name, staged, digest.hexdigest())
            return ""
    return why


def _exports_write(sink: _Sink, case: Case) -> None:
    """The file-instance export of each of the case's jobs (jobs.selectors, the `manage.py export` contract),
    each record led by its job: CSV spreadsheet-safe, JSON lines exact."""
    fields = ["job", "exhibit", *EXPORT_FIELDS]
    jobs = list(Job.objects.filter(case=case).order_by("id"))
    for fmt in ("csv", "jsonl"):
        with sink.open(f"exports/files.{fmt}") as stream:
            text = io.TextIOWrapper(io.BufferedWriter(stream), encoding="utf-8", newline="")
            records = (
                {"job": job.pk, "exhibit": job.exhibit, **record}
                for job in jobs
                for record in file_instances_for_export(job=job)
            )
            records_write(text, records, fmt=fmt, fields=fields)
            text.flush()
            text.detach()


def _text_put(sink: _Sink, name: str, text: str) -> None:
    with sink.open(name) as stream:
        stream.write(text.encode("utf-8"))


def _extra_put(sink: _Sink, extra: PortableFile) -> None:
    with sink.open(extra.name) as stream:
        buffered = io.BufferedWriter(stream, CHUNK)
        extra.write(buffered)
        if not buffered.closed:
            buffered.flush()
            buffered.detach()


def _sums_text(sums: dict[str, str]) -> str:
    """SHA256SUMS as `sha256sum` writes it (and `sha256sum -c` reads it): the names are plain by construction."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def _fill(
    sink: _Sink,
    *,
    case: Case,
    user: User | None,
    destination: str,
    selection: PortableSelection,
    extra_files: list[PortableFile],
    progress: Callable[[int, int], None] | None,
) -> PortableResult:
    image_ids = selected_image_ids(case=case, selection=selection)
    result = PortableResult(destination=destination)
    records, shown = [], []
    for done, item in enumerate(portable_images(case=case, image_ids=image_ids), start=1):
        name = image_name(item)
        why = _image_copy(sink, case, item, name)
        if why:
            result.unavailable.append((item.image.sha256, why))
        else:
            result.images += 1
        records.append(image_record(item, "" if why else name, why))
        shown.append((item, "" if why else name, why))
        if progress:
            progress(done, len(image_ids))
    for fmt in ("csv", "jsonl"):
        with sink.open(f"exports/images.{fmt}") as stream:
            text = io.TextIOWrapper(io.BufferedWriter(stream), encoding="utf-8", newline="")
            records_write(text, records, fmt=fmt, fields=IMAGE_FIELDS)
            text.flush()
            text.detach()
    _exports_write(sink, case)
    for extra in extra_files:
        _extra_put(sink, extra)
    made = PortableMade(
        case=case,
        by=user_name(user) if user is not None and user.is_authenticated else "the operator at the command line",
        at=timezone.now(),
        selection=selection,
        images=result.images,
        unavailable=len(result.unavailable),
        extra_names=[extra.name for extra in extra_files],
    )
    _text_put(sink, "index.html", index_render(made=made, shown=shown))
    _text_put(sink, "README.txt", readme_render(made=made))
    sums = _sums_text(sink.sums)
    result.sums = dict(sink.sums)
    with sink.open("SHA256SUMS") as stream:
        stream.write(sums.encode("ascii"))
    result.sha256sums = hashlib.sha256(sums.encode("ascii")).hexdigest()
    audit_record(
        "case.portable",
        target=case.reference,
        destination=destination or "download",
        images=result.images,
        unavailable=len(result.unavailable),
        selection=selection.as_data(),
        files=len(result.sums) + 1,
        sha256sums=result.sha256sums,
    )
    return result


def _checked(case: Case, user: User | None, selection: PortableSelection, extras: Iterable[PortableFile]):
    _access_check(case, user)
    try:
        selection_check(case=case, selection=selection)
    except SelectionError as exc:
        raise _refuse(case, str(exc)) from None
    extra_files = list(extras)
    _extras_check(case, extra_files)
    return extra_files


def portable_case_write(
    *,
    case: Case,
    user: User | None,
    destination: str | os.PathLike,
    selection: PortableSelection = PortableSelection(),  # noqa: B008 - frozen
    extra_files: Iterable[PortableFile] = (),
    progress: Callable[[int, int], None] | None = None,
) -> PortableResult:
    """Write the portable case of `case` into the new or empty folder `destination` (made when missing) as
    `user` (None: the operator at the command line). `progress(done, total)` is called after each image.
    Raises PortableRefused (on the record)."""
    extras = _checked(case, user, selection, extra_files)
    root = _destination_make(case, Path(destination))
    try:
        return _fill(
            _FolderSink(root), case=case, user=user, destination=str(root), selection=selection, extra_files=extras,
            progress=progress,
        )  # fmt: skip
    except OSError as exc:
        why = f"writing {root} failed: {exc.strerror or exc}; what is there is incomplete"
        audit_record("case.portable", outcome=AuditEvent.Outcome.FAILED, target=case.reference, detail=why,
                     destination=str(root))  # fmt: skip
        raise PortableRefused(why) from None


def portable_folder_name(case: Case) -> str:
    """The folder a zip of the case's portable case unpacks to."""
    return "portable-" + re.sub(r"[^A-Za-z0-9._-]", "_", case.reference)


def portable_case_zip(
    *,
    case: Case,
    user: User | None,
    out: BinaryIO,
    selection: PortableSelection = PortableSelection(),  # noqa: B008 - frozen
    extra_files: Iterable[PortableFile] = (),
    progress: Callable[[int, int], None] | None = None,
) -> PortableResult:
    """The portable case of `case` as a zip written to `out`, every file in one folder (portable_folder_name);
    otherwise as portable_case_write."""
    extras = _checked(case, user, selection, extra_files)
    scratch = Path(settings.VAR_DIR) / "portable"
    scratch.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        sink = _ZipSink(archive, portable_folder_name(case), scratch)
        return _fill(
            sink, case=case, user=user, destination="", selection=selection, extra_files=extras, progress=progress
        )
