"""The EXIF stage: every tag as JSON-safe data, plus the fields an examiner filters on (camera, time taken, GPS).

Parsing never raises for anything inside an EXIF block: a damaged group is reported in `warnings` and the rest
is kept. Values are made JSON-safe: rationals become numbers (None when the denominator is 0), text loses padding
NULs, undecodable bytes become {"hex": ...} (long blobs such as maker notes are cut at `MAX_BLOB` bytes).
"""

from __future__ import annotations

import math
import re
import warnings as warnings_module
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, BinaryIO

from PIL import ExifTags, Image, TiffImagePlugin
from PIL.ExifTags import GPS, Base

from evidence.exifblock import POINTERS, Groups, exif_groups
from evidence.images import open_image, read_exif
from evidence.jpeg import jpeg_metadata
from evidence.opening import EvidenceError, open_evidence
from extractors.base import ExtractorContext, ImageRef, ItemResult, Outcome, Provenance

MAX_BLOB = 4096
MAX_ITEMS = 1024  # longest list kept for one tag; longer arrays are cut (and said so)

_GROUPS = (
    ("Exif", ExifTags.IFD.Exif),
    ("GPS", ExifTags.IFD.GPSInfo),
    ("Interop", ExifTags.IFD.Interop),
    ("IFD1", ExifTags.IFD.IFD1),
)
_OFFSET_RE = re.compile(r"^[+-]\d{2}:\d{2}$")


@dataclass(frozen=True)
class ExifResult:
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    camera_make: str = ""
    camera_model: str = ""
    lens_model: str = ""
    software: str = ""
    datetime_original: str = ""  # ISO 8601, local time of the camera; with its UTC offset when the file has one
    orientation: int | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    gps_datetime: str = ""  # ISO 8601 UTC, from GPSDateStamp + GPSTimeStamp
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tags


# Control characters other than tab and line breaks (C0 and C1); what jsonb refuses in text; bytes that are not
# printable ASCII (or tab, line breaks).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_JSON_TEXT = re.compile("[\x00\ud800-\udfff]")
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e\t\n\r]")


def _text(value: str) -> str | dict[str, Any]:
    """Pillow reads EXIF text as Latin-1, but phones and cameras write UTF-8 there (and exiftool reads it so): text
    that is valid UTF-8 is shown as such. Older cameras' Latin-1 text stays as read; anything with control
    characters in it is not text, and is shown as the bytes it is."""
    value = value.rstrip("\x00").strip()
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = None  # not Latin-1 text read from a file
    if raw is not None:
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            if _CONTROL.search(value):
                return _blob(raw)
    if _NOT_JSON_TEXT.search(value):
        return _blob(value.encode("utf-8", "surrogatepass"))
    return value


def _blob(data: bytes) -> str | dict[str, Any]:
    stripped = data.rstrip(b"\x00")
    if stripped and not _NOT_PRINTABLE.search(stripped):
        return stripped.decode("ascii").strip()
    if len(data) > MAX_BLOB:
        return {"hex": data[:MAX_BLOB].hex(), "length": len(data), "truncated": True}
    return {"hex": data.hex()}


def json_safe(value: Any, depth: int = 0) -> Any:
    """Any value Pillow returns for a tag, as something json.dumps and PostgreSQL's jsonb both accept."""
    if depth > 8:
        return None
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, TiffImagePlugin.IFDRational):
        if value.denominator == 0:
            return None
        value = float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _blob(bytes(value))
    if isinstance(value, dict):
        return {_tag_name(k, ExifTags.TAGS): json_safe(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (tuple, list)):
        items = [json_safe(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append({"truncated": True, "length": len(value)})
        return items
    return str(value)


def _tag_name(tag: Any, names: dict[int, str]) -> str:
    if isinstance(tag, int):
        return names.get(tag) or f"0x{tag:04x}"
    return str(tag)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _dms(value: Any) -> float | None:
    """Degrees, minutes, seconds (three rationals) -> decimal degrees."""
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return _number(value)
    parts = [_number(v) for v in value]
    if any(p is None for p in parts):
        return None
    degrees = parts[0] + (parts[1] / 60 if len(parts) > 1 else 0) + (parts[2] / 3600 if len(parts) > 2 else 0)
    return degrees


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ").upper()[:1] if value is not None else ""


def _coordinate(value: Any, ref: Any, negative: str, limit: float) -> float | None:
    degrees = _dms(value)
    if degrees is None:
        return None
    if _ref(ref) == negative:
        degrees = -abs(degrees)
    if not -limit <= degrees <= limit:
        return None
    return round(degrees, 7)


_CAMERA_TIME = re.compile(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_CAMERA_DAY = re.compile(r"(\d{4}):(\d{2}):(\d{2})")


def _exif_datetime(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = value.strip("\x00 ")[:19]
    try:
        if match := _CAMERA_TIME.fullmatch(text):  # what cameras write; strptime takes 20 times longer
            return datetime(*map(int, match.groups())).isoformat()
        return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").isoformat()  # and what it also accepts
    except ValueError:
        return ""


def _gps_datetime(date_stamp: Any, time_stamp: Any) -> str:
    if not isinstance(date_stamp, str) or not isinstance(time_stamp, (tuple, list)) or len(time_stamp) != 3:
        return ""
    text = date_stamp.strip("\x00 ")[:10]
    try:
        if match := _CAMERA_DAY.fullmatch(text):
            day = datetime(*map(int, match.groups()))
        else:
            day = datetime.strptime(text, "%Y:%m:%d")
    except ValueError:
        return ""
    hms = [_number(v) for v in time_stamp]
    if any(v is None for v in hms) or not (0 <= hms[0] < 24 and 0 <= hms[1] < 60 and 0 <= hms[2] < 61):
        return ""
    seconds = int(hms[0]) * 3600 + int(hms[1]) * 60 + hms[2]
    whole = int(seconds)
    text = f"{day.date().isoformat()}T{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return text + "Z"


@contextmanager
def _pillow_complaints() -> Iterator[list[warnings_module.WarningMessage]]:
    """Collect the warnings Pillow gives while it reads an EXIF block ("Tag data larger than file. Skipping tag
    271", "Corrupt EXIF data"): they tell the examiner the metadata was damaged, so they belong in the result."""
    with warnings_module.catch_warnings(record=True) as caught:
        warnings_module.simplefilter("always")
        yield caught


def summarise(
    groups: Groups, *, unreadable: Sequence[str] = (), complaints: Sequence[warnings_module.WarningMessage] = ()
) -> ExifResult:
    """Turn an EXIF block's groups (from `exif_groups` or `pillow_groups`) into an ExifResult. Never raises. The
    groups that could not be read (`unreadable`) and Pillow's complaints about the block, made while it was read
    (`complaints`), are kept in `warnings`."""
    with _pillow_complaints() as caught:
        result = _summarise(groups)
    noted = tuple(dict.fromkeys([*unreadable, *(str(w.message).strip() for w in [*complaints, *caught])]))
    return replace(result, warnings=noted) if noted else result


def pillow_groups(exif: Image.Exif) -> tuple[Groups, list[str]]:
    """The groups of an EXIF block Pillow has loaded, as `exif_groups` gives them, and a message for each group
    Pillow could not read (left out). Pillow may read groups from the file only now (a TIFF's), and complain."""
    unreadable: list[str] = []
    groups: Groups = {}
    try:
        groups["IFD0"] = {k: v for k, v in exif.items() if k not in POINTERS}
    except Exception as exc:  # noqa: BLE001 - hostile IFD
        unreadable.append(f"IFD0 unreadable: {exc}")
    for group, pointer in _GROUPS:
        try:
            groups[group] = dict(exif.get_ifd(pointer))
        except Exception as exc:  # noqa: BLE001 - hostile IFD
            unreadable.append(f"{group} IFD unreadable: {exc}")
    return groups, unreadable


def _summarise(groups: Groups) -> ExifResult:
    tags: dict[str, dict[str, Any]] = {}
    for group, values in groups.items():
        names = ExifTags.GPSTAGS if group == "GPS" else ExifTags.TAGS
        if values:
            tags[group] = {_tag_name(k, names): json_safe(v) for k, v in values.items()}

    ifd0, sub, gps = groups.get("IFD0", {}), groups.get("Exif", {}), groups.get("GPS", {})

    def text(mapping: dict[int, Any], tag: int) -> str:
        value = json_safe(mapping.get(tag))
        return value if isinstance(value, str) else ""

    taken = _exif_datetime(sub.get(Base.DateTimeOriginal))
    offset = text(sub, Base.OffsetTimeOriginal)
    if taken and _OFFSET_RE.match(offset):
        taken += offset
    orientation = ifd0.get(Base.Orientation)
    altitude = _number(gps.get(GPS.GPSAltitude))
    if altitude is not None and gps.get(GPS.GPSAltitudeRef) in (1, b"\x01"):  # 1: below sea level
        altitude = -altitude
    return ExifResult(
        tags=tags,
        camera_make=text(ifd0, Base.Make),
        camera_model=text(ifd0, Base.Model),
        lens_model=text(sub, Base.LensModel),
        software=text(ifd0, Base.Software),
        datetime_original=taken,
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None,
        gps_lat=_coordinate(gps.get(GPS.GPSLatitude), gps.get(GPS.GPSLatitudeRef), "S", 90.0),
        gps_lon=_coordinate(gps.get(GPS.GPSLongitude), gps.get(GPS.GPSLongitudeRef), "W", 180.0),
        gps_alt=round(altitude, 3) if altitude is not None else None,
        gps_datetime=_gps_datetime(gps.get(GPS.GPSDateStamp), gps.get(GPS.GPSTimeStamp)),
    )


def block_groups(data: bytes) -> tuple[Groups, list[str]]:
    """The groups of a raw EXIF block (with or without the "Exif\\0\\0" header): read directly when it is regular,
    else by Pillow (which may raise on a hostile block, and complains through `warnings`)."""
    groups = exif_groups(data)
    if groups is not None:
        return groups, []
    exif = Image.Exif()
    exif.load(data)
    return pillow_groups(exif)


def parse_exif_block(data: bytes) -> ExifResult:
    """Parse a raw EXIF block (with or without the "Exif\\0\\0" header). Never raises."""
    with _pillow_complaints() as complaints:
        try:
            groups, unreadable = block_groups(data)
        except Exception as exc:  # noqa: BLE001 - any byte string may arrive here
            return ExifResult(warnings=(f"EXIF block unreadable: {exc}",))
    return summarise(groups, unreadable=unreadable, complaints=complaints)


class ExifExtractor:
    name = "exif"
    # 2: UTF-8 text, Pillow's complaints kept, HEIF orientation as the file holds it. 3: a JPEG whose EXIF block does
    # not parse is a failed result (Pillow left some of them as an empty one)
    version = "3"
    queue = "exif"

    def __init__(self, context: ExtractorContext) -> None:
        self.context = context

    def load(self) -> Provenance:
        return Provenance(stage=self.name, version=self.version, model_name="pillow", params={})

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        return [self._one(ref) for ref in batch]

    def _one(self, ref: ImageRef) -> ItemResult:
        try:
            with open_evidence(ref.path) as fp, _pillow_complaints() as complaints:
                try:
                    groups, unreadable = self._read(fp, ref.mime)
                except EvidenceError:
                    raise
                except Exception as exc:  # noqa: BLE001 - hostile EXIF: a result for this image, not a crash
                    return ItemResult(ref.image_id, Outcome.FAILED, error=f"unreadable EXIF: {exc}")
            return ItemResult(
                ref.image_id, Outcome.DONE, data=summarise(groups, unreadable=unreadable, complaints=complaints)
            )
        except EvidenceError as exc:
            return ItemResult(ref.image_id, Outcome.FAILED, error=str(exc))

    def _read(self, fp: BinaryIO, mime: str) -> tuple[Groups, list[str]]:
        """The file's EXIF groups, and the groups that could not be read. Raises EvidenceError when the image does
        not open, anything else on hostile EXIF. Read while the file is open: Pillow reads a TIFF's EXIF groups
        from it as they are asked for."""
        if mime == "image/jpeg" and (segments := jpeg_metadata(fp)) is not None:
            groups, unreadable = block_groups(segments.exif) if segments.exif else ({}, [])
            if segments.xmp_orientation is not None and Base.Orientation not in groups.get("IFD0", {}):
                groups.setdefault("IFD0", {})[Base.Orientation] = segments.xmp_orientation
            return groups, unreadable
        with open_image(fp, mime=mime, max_pixels=self.context.max_image_pixels) as img:
            return pillow_groups(read_exif(img, fp))
