"""api.fetch's naming of copies: only ever from a valid SHA-256, whatever else the server sends."""

from __future__ import annotations

import pytest

from api.fetch import copy_name
from imagescanner.v1 import jobs_pb2 as pb

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("mime", "image_format", "name"),
    [
        ("image/jpeg", "JPEG", f"{SHA}.jpg"),
        ("image/png", "PNG", f"{SHA}.png"),
        ("image/webp", "WEBP", f"{SHA}.webp"),
        ("application/x-unheard-of", "", SHA),
        ("", "../../x", SHA),
    ],
)
def test_a_copy_is_named_by_its_sha256_and_type(mime, image_format, name):
    assert copy_name(pb.Image(image_id=1, sha256=SHA, mime=mime, format=image_format)) == name


@pytest.mark.parametrize("sha256", ["", "../../etc/passwd", SHA.upper(), SHA + "/x", SHA[:-1], "/" + SHA[1:]])
def test_a_name_never_comes_from_anything_but_a_sha256(sha256):
    with pytest.raises(ValueError, match="has no valid SHA-256"):
        copy_name(pb.Image(image_id=1, sha256=sha256, mime="image/jpeg"))
