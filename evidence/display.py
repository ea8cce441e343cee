"""How suspect-controlled text (file names, EXIF values) is shown: one rule for the web, the API, the exports and
the command line.

A file name or an EXIF value comes from the suspect. Shown as it is, a right-to-left override (U+202E) reverses
the text around it, a zero-width or control character hides, and two different names can look the same. So what is
shown is one-to-one with what is there, and every character that would not show as itself is an escape:

- a literal backslash is shown as `\\\\`;
- a byte that is not valid UTF-8 (in a path) is shown as `\\xNN`;
- a character that `str.isprintable()` calls not printable (controls, format characters such as the bidi controls
  U+202A-U+202E, U+2066-U+2069, U+200E/F and U+061C, zero-width characters, separators other than the space,
  surrogates, private-use and unassigned code points) is shown as `\\uXXXX`, or `\\UXXXXXXXX` above U+FFFF.

Every other character is shown as itself. Hex digits are lower-case. Reading the escapes back gives the exact text
(and, for a path, the exact bytes): no two different names are ever shown the same. No Django here: discovery uses it
and every layer above may.
"""

from __future__ import annotations

import re

# What needs an escape: the backslash, and whatever str.isprintable() refuses (tested per character below).
_CANDIDATE = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
# Python decodes a byte that is not UTF-8 as a lone surrogate U+DC80-U+DCFF ("surrogateescape").
_BYTE_SURROGATES = range(0xDC80, 0xDD00)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    code = ord(char)
    if code in _BYTE_SURROGATES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def display_text(text: str) -> str:
    """`text` as the module docstring's rule shows it. A lone surrogate U+DC80-U+DCFF is taken for the byte it
    stands for (`\\xNN`), as `display_path` needs."""
    return _CANDIDATE.sub(_escape, text)


def display_path(raw: bytes) -> str:
    """The exact bytes of a path as they are shown (and stored in `FileInstance.path`): UTF-8 text, with the
    escapes of the module docstring."""
    return display_text(raw.decode("utf-8", "surrogateescape"))
