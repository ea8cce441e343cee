"""Fixtures of the extractor tests: a loaded EXIF extractor, and the independent reference the EXIF tests compare
against (Debian's exiftool). The hostile files they read are built by tests/support/images.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from extractors.base import ExtractorContext
from extractors.exif import ExifExtractor


@pytest.fixture
def exif_extractor(tmp_path: Path) -> ExifExtractor:
    extractor = ExifExtractor(ExtractorContext(models_root=tmp_path))
    extractor.load()
    return extractor


@pytest.fixture(scope="session")
def exiftool() -> Callable[..., dict[str, dict]]:
    """Read files with Debian's exiftool (numeric values, group-qualified names): tag -> value, per path."""
    binary = shutil.which("exiftool")
    assert binary, "exiftool is missing: apt-get install -y libimage-exiftool-perl"

    def read(*paths: Path) -> dict[str, dict]:
        out = subprocess.run([binary, "-j", "-n", "-G", "-a", *map(str, paths)], capture_output=True, check=True)
        return {Path(record["SourceFile"]).name: record for record in json.loads(out.stdout)}

    return read
