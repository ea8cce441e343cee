"""XMP and IPTC of an evidence file, read by exiftool (Debian's libimage-exiftool-perl) from the file's open,
read-only descriptor on its standard input: exiftool is never given a path, never asked to write, and reads only
what it is given.

Values come back as exiftool's JSON (`-j -G1 -struct`): grouped by family-1 group ("XMP-xmpMM", "IPTC"), XMP
structures (xmpMM:History, xmpMM:DerivedFrom) as lists and objects. Text that jsonb cannot store (NUL, lone
surrogates) becomes {"hex": ...}; long text and lists are cut.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, BinaryIO

from extractors.base import StageUnavailable

MAX_TEXT = 4096
MAX_ITEMS = 256
TIMEOUT = 60  # seconds one file may take: exiftool reads metadata only (-fast), so this is a hostile file
_ARGS = ("-j", "-G1", "-struct", "-fast", "-charset", "filename=utf8", "-XMP:all", "-IPTC:all", "-")


def exiftool_version() -> str:
    """The installed exiftool's version. Raises StageUnavailable when it is missing or does not run."""
    binary = shutil.which("exiftool")
    if binary is None:
        raise StageUnavailable("exiftool is not installed", fix="apt-get install -y libimage-exiftool-perl")
    try:
        out = subprocess.run([binary, "-ver"], capture_output=True, timeout=TIMEOUT, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise StageUnavailable(
            f"exiftool does not run: {exc}", fix="apt-get install -y libimage-exiftool-perl"
        ) from exc
    return out.stdout.decode("ascii", "replace").strip()


def jsonb_value(value: Any, depth: int = 0) -> Any:
    """A value of exiftool's JSON (or any JSON read from a suspect file) as something jsonb stores: text with a NUL
    or a lone surrogate kept as its bytes in hex."""
    if depth > 8:
        return None
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            return {"hex": value.encode("utf-8", "surrogatepass")[:MAX_TEXT].hex()}
        return value[:MAX_TEXT]
    if isinstance(value, dict):
        return {str(jsonb_value(k, depth + 1)): jsonb_value(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list):
        return [jsonb_value(v, depth + 1) for v in value[:MAX_ITEMS]]
    return value


def read_xmp_iptc(fp: BinaryIO) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
    """(XMP by group -> tag -> value, IPTC tag -> value, a warning or ""), read from the open file `fp` (from its
    start). exiftool reads `fp`'s descriptor itself and moves its offset: `fp` is not read from again. Never raises
    for what the file holds: exiftool's complaints become the warning."""
    binary = shutil.which("exiftool") or "exiftool"
    os.lseek(fp.fileno(), 0, os.SEEK_SET)
    try:
        out = subprocess.run([binary, *_ARGS], stdin=fp, capture_output=True, timeout=TIMEOUT, check=False)
        records = json.loads(out.stdout or b"[{}]")
    except subprocess.TimeoutExpired:
        return {}, {}, f"exiftool gave up on the file after {TIMEOUT} s"
    except ValueError as exc:
        return {}, {}, f"exiftool output unreadable: {exc}"
    record = records[0] if isinstance(records, list) and records and isinstance(records[0], dict) else {}
    xmp: dict[str, dict[str, Any]] = {}
    iptc: dict[str, Any] = {}
    for key, value in record.items():
        group, _, tag = key.partition(":")
        if not tag:  # SourceFile
            continue
        if group.startswith("XMP"):
            xmp.setdefault(group, {})[tag] = jsonb_value(value)
        elif group == "IPTC":
            iptc[tag] = jsonb_value(value)
    warning = out.stderr.decode("utf-8", "replace").replace("\x00", "").strip()[:MAX_TEXT] if out.returncode else ""
    return xmp, iptc, warning
