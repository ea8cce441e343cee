"""Writing Project VIC VICS JSON 2.0: the flat form (`@odata.context` naming the 2.0 data model's Media set, the
media themselves under `value`) that Griffeye, IPED and our own hash-set import (hashformats.vics) read.

Each medium carries its hashes as VICS names them (`MD5`, `SHA1`, upper-case hex, and `SHA256`), `Category` (the
Project VIC number, as a JSON number), `MediaSize`, `MimeType`, `DateUpdated` (when the category was set or
confirmed), `MediaFiles` (each path it was found at: `FileName`, `FilePath` relative to the source as shown
everywhere, `SourceID` the exhibit, `MD5`, `Written` and `Created` where recorded) and, where the image has one, its
PDQ hash in `AlternativeHashes` (`HashName` "PDQ", `HashValue` 64 hex digits in Meta's order). The document is
written medium by medium, never held whole; every character outside printable ASCII is a JSON escape (the same
value), so a file name cannot turn the text around it in a viewer. Pure: no database, no Django."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class MediumFile:
    """One path a medium was found at."""

    path: str  # relative to the job's source, as shown everywhere (evidence.display)
    md5: str
    source: str  # the job's exhibit, else "job <id>"
    mtime: dt.datetime | None
    btime: dt.datetime | None

    @property
    def name(self) -> str:
        return os.path.basename(self.path) or self.path


@dataclass(frozen=True)
class Medium:
    """A categorised image as VICS carries it."""

    md5: str
    sha1: str
    sha256: str
    size: int
    mime: str
    category: str  # the code of the category in the case's scheme
    updated: dt.datetime  # when the category was set, or confirmed
    files: tuple[MediumFile, ...]
    pdq: str = ""


ODATA_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def vics_medium(medium_id: int, medium: Medium) -> dict[str, Any]:
    """One medium of the `value` array."""
    files = []
    for found in medium.files:
        entry = {"MD5": (found.md5 or medium.md5).upper(), "FileName": found.name, "FilePath": found.path,
                 "SourceID": found.source}  # fmt: skip
        for key, when in (("Written", found.mtime), ("Created", found.btime)):
            if when is not None:
                entry[key] = _time(when)
        files.append(entry)
    written: dict[str, Any] = {
        "MediaID": medium_id,
        "Category": int(medium.category),
        "MD5": medium.md5.upper(),
        "SHA1": medium.sha1.upper(),
        "SHA256": medium.sha256.upper(),
        "MediaSize": medium.size,
        "MimeType": medium.mime,
        "DateUpdated": _time(medium.updated),
        "MediaFiles": files,
    }
    if medium.pdq:
        written["AlternativeHashes"] = [{"HashName": "PDQ", "HashValue": medium.pdq}]
    return written


def vics_write(out: TextIO, media: Iterable[Medium]) -> int:
    """Write the VICS document of `media` to `out`, one medium a line; returns how many were written."""
    out.write('{"@odata.context": ' + json.dumps(ODATA_CONTEXT) + ', "value": [')
    count = 0
    for medium in media:
        out.write(",\n" if count else "\n")
        count += 1
        out.write(json.dumps(vics_medium(count, medium), ensure_ascii=True))
    out.write("\n]}\n")
    return count
