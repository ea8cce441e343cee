"""The display rule for suspect text: what is shown is one-to-one with what is there."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from evidence.display import display_path, display_text
from tests.support.display import shown_to_bytes

RLO = "\u202e"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"photos/IMG_0001.jpg", "photos/IMG_0001.jpg"),
        ("café/日本.jpg".encode(), "café/日本.jpg"),
        (b"bad\xff.jpg", "bad\\xff.jpg"),  # a byte that is not UTF-8
        (b"bad\\xff.jpg", "bad\\\\xff.jpg"),  # the text backslash, x, f, f: no longer shown the same
        (f"invoice{RLO}gpj.exe".encode(), "invoice\\u202egpj.exe"),
        ("a\u2066b\u2069c\u200ed\u061ce\u200bf".encode(), "a\\u2066b\\u2069c\\u200ed\\u061ce\\u200bf"),
        (b"line\nbreak\x1b[31m.jpg", "line\\u000abreak\\u001b[31m.jpg"),  # no terminal escape gets through
        ("\u0085\u00a0".encode(), "\\u0085\\u00a0"),  # a C1 control is a character (\\u), never a byte (\\x)
        ("tag\U000e0041.jpg".encode(), "tag\\U000e0041.jpg"),
    ],
)
def test_display_path_shows_what_would_hide_or_mislead_as_escapes(raw, shown):
    assert display_path(raw) == shown
    assert shown_to_bytes(shown) == raw


def test_display_text_escapes_bidi_controls_in_exif_values():
    assert display_text(f"Canon{RLO} 80D\\") == "Canon\\u202e 80D\\\\"
    assert display_text("EOS 80D") == "EOS 80D"


@given(st.binary(max_size=64))
@example(b"bad\xff.jpg")
@example(b"bad\\xff.jpg")
@example(b"\\\\xff\xff\\")
@example(b"\xed\xb2\x80")  # an encoded surrogate is not UTF-8: three bytes
def test_display_path_reads_back_to_the_exact_bytes(raw):
    shown = display_path(raw)
    assert shown_to_bytes(shown) == raw
    assert shown.isprintable()  # nothing in it hides or turns text around


@given(st.binary(max_size=16), st.binary(max_size=16))
@example(b"bad\xff.jpg", b"bad\\xff.jpg")
def test_display_path_never_shows_two_paths_the_same(one, other):
    assert (display_path(one) == display_path(other)) == (one == other)


@given(st.text(max_size=32))  # any text a field can hold (no lone surrogates)
def test_display_text_reads_back_to_the_exact_text(text):
    shown = display_text(text)
    assert shown.isprintable()
    assert shown_to_bytes(shown) == text.encode()
