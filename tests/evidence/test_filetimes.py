"""Birth times: read where the file system records them (tests/evidence/test_probe.py checks them against
coreutils' stat over a walk), unknown, never an error, where they cannot be read."""

from __future__ import annotations

import os

from evidence.filetimes import evidence_birth_time


def test_a_birth_time_that_cannot_be_reached_is_unknown_not_an_error(tmp_path):
    """A path too long for the kernel is reached folder by folder; a folder missing on the way (gone since the walk
    listed it) makes the birth time unknown, where it once failed the walk."""
    gone = tmp_path / "gone"
    long_path = os.fsencode(gone) + b"/" + b"/".join([b"d" * 200] * 25) + b"/photo.jpg"
    assert len(long_path) > os.pathconf("/", "PC_PATH_MAX")
    assert evidence_birth_time(long_path) is None
    assert evidence_birth_time(os.fsencode(gone / "photo.jpg")) is None  # short: statx itself says it is missing
