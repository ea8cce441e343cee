"""Downloading models, for a connected host only and only when an operator asks (`models install --download`).

Each download goes through the library's own downloader into a staging folder inside MODELS_ROOT and is then
installed like any folder (hashed, recorded in the manifest). Scans never call this.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from extractors.faces import PACKS
from extractors.modelstore import Installed, ModelStoreError, models_install


def download_faces_pack(pack: str, root: Path) -> list[Installed]:
    """An insightface pack (buffalo_l, ...) from insightface's model zoo."""
    if pack not in PACKS:
        raise ModelStoreError(f"unknown insightface pack {pack!r}; known: {', '.join(PACKS)}")
    from insightface.utils import storage

    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".downloading-", dir=root) as staging:
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
