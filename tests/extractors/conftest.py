"""Fixtures of the extractor tests: a loaded EXIF extractor. The hostile files they read are built by
tests/support/images.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractors.base import ExtractorContext
from extractors.exif import ExifExtractor


@pytest.fixture
def exif_extractor(tmp_path: Path) -> ExifExtractor:
    extractor = ExifExtractor(ExtractorContext(models_root=tmp_path))
    extractor.load()
    return extractor
