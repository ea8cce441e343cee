"""Reading shown text back (the inverse of evidence.display), to prove the display rule one-to-one."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


def shown_to_bytes(shown: str) -> bytes:
    """The exact bytes `display_path` showed as `shown`. Raises ValueError on a backslash that starts no escape."""
    out, at = bytearray(), 0
    for match in _ESCAPE.finditer(shown):
        plain = shown[at : match.start()]
        if "\\" in plain:
            raise ValueError(f"a lone backslash in {shown!r}")
        out += plain.encode()
        backslash, byte, code, wide = match.groups()
        if byte:
            out.append(int(byte, 16))
        else:
            out += ("\\" if backslash else chr(int(code or wide, 16))).encode("utf-8", "surrogatepass")
        at = match.end()
    if "\\" in shown[at:]:
        raise ValueError(f"a lone backslash in {shown!r}")
    out += shown[at:].encode()
    return bytes(out)
