"""Fixtures for the extractor tests."""

from pathlib import Path

import pytest

from tests.mlsupport import build_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """MODELS_ROOT with tiny faces and classify models, built once per session."""
    return build_models(tmp_path_factory.mktemp("models"))
