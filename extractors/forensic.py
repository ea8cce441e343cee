"""The forensic stage: signs that a picture was edited, or made, after capture, as flags that each say why.

Each flag is {"code": ..., "why": <a sentence for the examiner>, ...data}. The stage's flags are facts of the content:

- `thumbnail-differs`: the EXIF thumbnail (IFD1) shows another picture than the image: their PDQ hashes differ in
  more than `thumbnail_threshold` of 256 bits. Cameras write the thumbnail from the same exposure; an editor that
  changes the pixels and keeps the EXIF block as it was leaves the old thumbnail behind. Compared at the orientation
  both are stored in; when their shapes disagree (next flag), at the best of PDQ's eight rotations and mirrorings.
- `orientation-disagrees`: the thumbnail is portrait and the image landscape as stored, or the other way round: the
  pixels were turned after capture and the thumbnail was not.
- `editing-software`: EXIF `Software` or XMP `CreatorTool` names an image editor (`editors`, case-insensitive).
- `gps-time-differs`: `DateTimeOriginal` is far from the GPS time (UTC). With the camera's UTC offset
  (`OffsetTimeOriginal`) they must agree within `clock_tolerance_minutes`; without one, the camera's local time can
  be UTC-12 to UTC+14, so only a difference outside that range (plus the tolerance) is flagged.
- `edit-history`: the XMP holds an edit history (`xmpMM:History`: actions and the software that made them) or says
  what it was derived from (`xmpMM:DerivedFrom`).
- `content-credentials`, `content-credentials-invalid`, `ai-generated`, `ai-edited`: C2PA content credentials
  (extractors.credentials): signed by whom, whether they validate, whether they declare the picture AI-made.

`taken-after-modified` belongs to a file, not to its content: `taken_after_modified` compares the `taken` time this
stage records with a file's modification time, where the files are known (the gallery's panel and the export).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from PIL import Image

from evidence.exifblock import Groups
from evidence.images import open_image, read_exif
from evidence.jpeg import jpeg_metadata, jpeg_xmp_or_iptc
from evidence.opening import EvidenceError, open_evidence
from extractors.base import ExtractorContext, ImageRef, ItemResult, Outcome, Provenance, effective_version
from extractors.credentials import c2pa_version, read_credentials
from extractors.exif import block_groups, pillow_groups, summarise
from extractors.pdq import HASH_BYTES, hamming, pdq_dihedral
from extractors.xmp import exiftool_version, read_xmp_iptc

# Every flag's code, and what the gallery's filter calls it.
FLAG_CODES = {
    "thumbnail-differs": "EXIF thumbnail differs", "orientation-disagrees": "orientation disagrees with thumbnail",
    "editing-software": "editing software", "gps-time-differs": "time taken far from GPS time",
    "taken-after-modified": "taken after file modified", "edit-history": "XMP edit history",
    "content-credentials": "C2PA content credentials", "content-credentials-invalid": "C2PA credentials invalid",
    "ai-generated": "AI-generated (C2PA)", "ai-edited": "AI-edited (C2PA)",
}  # fmt: skip
EDITORS = (
    "Photoshop", "GIMP", "Lightroom", "Snapseed", "PicsArt", "Affinity", "Paint.NET", "Pixelmator", "Photopea",
    "Capture One", "Luminar", "Darktable", "RawTherapee", "Krita", "Corel", "PaintShop", "Fotor", "Canva",
    "Facetune", "VSCO", "Photo Editor", "PhotoScape", "ACDSee", "Polarr", "Meitu", "FaceApp", "Photoshop Express",
)  # fmt: skip
DEFAULTS: Mapping[str, Any] = {"thumbnail_threshold": 48, "clock_tolerance_minutes": 30, "editors": EDITORS}
_THUMBNAIL_OFFSET, _THUMBNAIL_LENGTH = 0x0201, 0x0202
_EXIF_HEADER = re.compile(rb"^(Exif\x00\x00)")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})$")
_EARLIEST_ZONE, _LATEST_ZONE = dt.timedelta(hours=-12), dt.timedelta(hours=14)


def flag(code: str, why: str, **data: Any) -> dict[str, Any]:
    return {"code": code, "why": why, **data}


@dataclass(frozen=True)
class ForensicResult:
    flags: tuple[dict[str, Any], ...] = ()
    taken: str = ""  # DateTimeOriginal, ISO 8601 local time, with the UTC offset when the file has one
    thumbnail_distance: int | None = None  # PDQ bits (of 256) between the EXIF thumbnail and the image
    xmp: dict[str, dict[str, Any]] = field(default_factory=dict)
    iptc: dict[str, Any] = field(default_factory=dict)
    c2pa: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _aspect(size: tuple[int, int]) -> str:
    """ "landscape", "portrait" or "" (within 10% of square: no shape to disagree with)."""
    width, height = size
    if width > height * 1.1:
        return "landscape"
    if height > width * 1.1:
        return "portrait"
    return ""


def _thumbnail(block: bytes, groups: Groups) -> bytes | None:
    """The JPEG thumbnail IFD1 points to in an EXIF block; None when there is none or it lies outside the block."""
    ifd1 = groups.get("IFD1") or {}
    offset, length = ifd1.get(_THUMBNAIL_OFFSET), ifd1.get(_THUMBNAIL_LENGTH)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return None
    data = _EXIF_HEADER.sub(b"", block, count=1)
    return data[offset : offset + length] if offset + length <= len(data) else None


def thumbnail_checks(
    picture: Image.Image, stored: tuple[int, int], thumbnail: Image.Image, threshold: int
) -> tuple[int, list[dict]]:
    """The PDQ distance between an image (its pixels as stored, perhaps scaled down; `stored`: its size) and its EXIF
    thumbnail, and the flags they raise."""
    flags = []
    shapes = _aspect(stored), _aspect(thumbnail.size)
    turned = all(shapes) and shapes[0] != shapes[1]
    if turned:
        flags.append(flag(
            "orientation-disagrees",
            f"the EXIF thumbnail is {shapes[1]} ({thumbnail.width}x{thumbnail.height}) and the picture {shapes[0]} "
            f"({stored[0]}x{stored[1]}) as stored: the picture was turned after the thumbnail was made",
            thumbnail=list(thumbnail.size), picture=list(stored),
        ))  # fmt: skip
    mine, theirs = pdq_dihedral(picture).hash, pdq_dihedral(thumbnail)
    dihedral = theirs.dihedral
    candidates = [dihedral[i : i + HASH_BYTES].hex() for i in range(0, len(dihedral), HASH_BYTES)]
    distance = min(hamming(mine, other) for other in (candidates if turned else candidates[:1]))
    if distance > threshold:
        flags.append(flag(
            "thumbnail-differs",
            f"the EXIF thumbnail differs from the picture (PDQ distance {distance} of 256, more than {threshold}): "
            "the picture was changed after the thumbnail was made",
            distance=distance, threshold=threshold,
        ))  # fmt: skip
    return distance, flags


def _instant(text: str) -> tuple[dt.datetime, dt.timedelta | None] | None:
    """An ISO 8601 local time ("2024-01-02T03:04:05", optionally "+01:00") -> (naive local time, UTC offset)."""
    try:
        moment = dt.datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return None
    offset = moment.utcoffset()
    return moment.replace(tzinfo=None), offset


def gps_time_check(taken: str, gps_datetime: str, tolerance: dt.timedelta) -> dict[str, Any] | None:
    """The `gps-time-differs` flag of a DateTimeOriginal and a GPS time (UTC), or None."""
    local, gps = _instant(taken), _instant(gps_datetime)
    if local is None or gps is None:
        return None
    (moment, offset), (utc, _) = local, gps
    if offset is not None:
        apart = moment - offset - utc
        if abs(apart) <= tolerance:
            return None
        return flag(
            "gps-time-differs",
            f"DateTimeOriginal {taken} is {_span(apart)} {'after' if apart > dt.timedelta(0) else 'before'} the GPS "
            f"time {gps_datetime} (more than {_span(tolerance)})",
            taken=taken, gps=gps_datetime,
        )  # fmt: skip
    apart = moment - utc  # the camera's UTC offset, if both clocks were right
    if _EARLIEST_ZONE - tolerance <= apart <= _LATEST_ZONE + tolerance:
        return None
    return flag(
        "gps-time-differs",
        f"DateTimeOriginal {taken} is {_span(apart)} {'after' if apart > dt.timedelta(0) else 'before'} the GPS time "
        f"{gps_datetime}: no time zone (UTC-12 to UTC+14) explains that",
        taken=taken, gps=gps_datetime,
    )  # fmt: skip


def taken_after_modified(taken: str, mtime: dt.datetime, tolerance: dt.timedelta) -> dict[str, Any] | None:
    """The `taken-after-modified` flag of a file: its content's DateTimeOriginal is later than the file's
    modification time (aware), which a file written by the camera never is. Without the camera's UTC offset the
    local time is taken at UTC+14, the earliest instant it can mean."""
    local = _instant(taken)
    if local is None:
        return None
    moment, offset = local
    earliest = (moment - (offset if offset is not None else _LATEST_ZONE)).replace(tzinfo=dt.UTC)
    if earliest <= mtime + tolerance:
        return None
    return flag(
        "taken-after-modified",
        f"DateTimeOriginal {taken} is later than the file's modification time "
        f"{mtime.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC" + ("" if offset is not None else " in any time zone"),
        taken=taken, mtime=mtime.isoformat(),
    )  # fmt: skip


def _span(delta: dt.timedelta) -> str:
    minutes = round(abs(delta).total_seconds() / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def editor_check(software: str, creator_tool: str, editors: Sequence[str]) -> dict[str, Any] | None:
    """The `editing-software` flag when EXIF Software or XMP CreatorTool names one of `editors`."""
    for tag, value in (("EXIF Software", software), ("XMP CreatorTool", creator_tool)):
        found = next((name for name in editors if name.casefold() in value.casefold()), None) if value else None
        if found:
            return flag("editing-software", f"{tag} names an image editor ({found}): {value}", software=value)
    return None


def history_check(xmp: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The `edit-history` flag of an XMP edit history (xmpMM:History) or origin (xmpMM:DerivedFrom)."""
    media = xmp.get("XMP-xmpMM") or {}
    history = media.get("History")
    history = history if isinstance(history, list) else [history] if isinstance(history, dict) else []
    steps = [
        " ".join(str(entry[key]) for key in ("Action", "SoftwareAgent") if isinstance(entry.get(key), str))
        for entry in history
        if isinstance(entry, dict)
    ]
    steps = [step for step in steps if step]
    derived = media.get("DerivedFrom")
    if not steps and not derived:
        return None
    parts = []
    if steps:
        more = "..." if len(steps) > 5 else ""
        parts.append(f"{len(steps)} step{'s' if len(steps) != 1 else ''} ({'; '.join(steps[:5])}{more})")
    if derived:
        source = derived.get("DocumentID") or derived.get("InstanceID") if isinstance(derived, dict) else derived
        parts.append(f"derived from {source}")
    return flag("edit-history", "the XMP holds an edit history: " + ", ".join(parts), steps=steps[:50])


def credential_flags(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The flags of a C2PA summary (extractors.credentials.summarise_store)."""
    if not summary:
        return []
    state = summary.get("state", "")
    if state == "unreadable":
        return [
            flag(
                "content-credentials-invalid",
                f"C2PA content credentials that cannot be read: {summary.get('error', '')}",
            )
        ]
    signer = ", ".join(p for p in (summary.get("signer"), summary.get("issuer")) if p) or "an unnamed signer"
    made = f" (made by {summary['generator']})" if summary.get("generator") else ""
    why = f"C2PA content credentials signed by {signer}, {state or 'not validated'}{made}"
    flags = [flag("content-credentials", why, state=state, signer=summary.get("signer", ""))]
    if state == "invalid":
        failures = "; ".join(summary.get("failures") or []) or "no reason given"
        flags.append(flag("content-credentials-invalid", f"the C2PA content credentials do not validate: {failures}"))
    if summary.get("ai") == "generated":
        flags.append(flag("ai-generated", "the C2PA content credentials declare the picture AI-generated "
                          f"({', '.join(summary.get('source_types', []))})"))  # fmt: skip
    elif summary.get("ai") == "edited":
        flags.append(flag("ai-edited", "the C2PA content credentials declare the picture edited with AI "
                          f"({', '.join(summary.get('source_types', []))})"))  # fmt: skip
    return flags


class ForensicExtractor:
    name = "forensic"
    version = "1"
    # Metadata work (a PDQ hash of a small decode, one exiftool run, the C2PA reader): it shares the EXIF workers.
    queue = "exif"
    result_params = ("thumbnail_threshold", "clock_tolerance_minutes", "editors")

    def __init__(self, context: ExtractorContext) -> None:
        self.context = context
        self.params = self.resolved_params(context.params)

    @classmethod
    def resolved_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        unset = (None, "", [], ())
        resolved = {**params, **{key: value for key, value in DEFAULTS.items() if params.get(key) in unset}}
        resolved["editors"] = list(resolved["editors"])
        return resolved

    def load(self) -> Provenance:
        return Provenance(
            stage=self.name,
            version=effective_version(type(self), self.context.params),
            model_name=f"exiftool {exiftool_version()}, {c2pa_version()}, pdqhash",
            params={key: self.params[key] for key in self.result_params},
        )

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        return [self._one(ref) for ref in batch]

    def _one(self, ref: ImageRef) -> ItemResult:
        try:
            with open_evidence(ref.path) as fp:
                return ItemResult(ref.image_id, Outcome.DONE, data=self._analyse(fp, ref))
        except EvidenceError as exc:
            return ItemResult(ref.image_id, Outcome.FAILED, error=str(exc))

    def _analyse(self, fp: BinaryIO, ref: ImageRef) -> ForensicResult:
        mime = ref.mime
        warnings: list[str] = []
        flags: list[dict[str, Any]] = []
        tolerance = dt.timedelta(minutes=float(self.params["clock_tolerance_minutes"]))
        block, groups, distance = None, {}, None
        try:
            block, groups = self._exif(fp, mime)
        except EvidenceError:
            raise
        except Exception as exc:  # noqa: BLE001 - hostile EXIF: the other checks still run
            warnings.append(f"EXIF unreadable: {exc}")
        exif = summarise(groups)
        thumbnail = _thumbnail(block, groups) if block else None
        if thumbnail:
            try:
                distance, found = self._compare(fp, mime, thumbnail)
                flags += found
            except Exception as exc:  # noqa: BLE001 - a damaged thumbnail or picture: the other checks still run
                warnings.append(f"picture not compared with its EXIF thumbnail: {exc}")
        if exif.gps_datetime and (late := gps_time_check(exif.datetime_original, exif.gps_datetime, tolerance)):
            flags.append(late)
        xmp, iptc, complaint = {}, {}, ""
        if mime != "image/jpeg" or jpeg_xmp_or_iptc(fp) is not False:  # exiftool costs a process per file
            # exiftool reads from a descriptor of its own (it moves the offset under `fp`'s buffer), of the same file.
            with open_evidence(ref.path, expect=os.fstat(fp.fileno())) as own:
                xmp, iptc, complaint = read_xmp_iptc(own)
        if complaint:
            warnings.append(complaint)
        creator = (xmp.get("XMP-xmp") or {}).get("CreatorTool")
        if edited := editor_check(exif.software, creator if isinstance(creator, str) else "", self.params["editors"]):
            flags.append(edited)
        if history := history_check(xmp):
            flags.append(history)
        credentials = read_credentials(fp, mime)
        flags += credential_flags(credentials)
        return ForensicResult(
            flags=tuple(flags), taken=exif.datetime_original, thumbnail_distance=distance, xmp=xmp, iptc=iptc,
            c2pa=credentials, warnings=tuple(warnings),
        )  # fmt: skip

    def _exif(self, fp: BinaryIO, mime: str) -> tuple[bytes | None, Groups]:
        """The file's raw EXIF block (None where the format keeps none apart, as a TIFF) and its groups."""
        if mime == "image/jpeg" and (segments := jpeg_metadata(fp)) is not None:
            return segments.exif, (block_groups(segments.exif)[0] if segments.exif else {})
        fp.seek(0)
        with open_image(fp, mime=mime, max_pixels=self.context.max_image_pixels) as img:
            raw = img.info.get("exif")
            return (raw if isinstance(raw, bytes) else None), pillow_groups(read_exif(img, fp))[0]

    def _compare(self, fp: BinaryIO, mime: str, thumbnail: bytes) -> tuple[int, list[dict[str, Any]]]:
        with open_image(io.BytesIO(thumbnail), mime="image/jpeg", max_pixels=self.context.max_image_pixels) as small:
            small.load()
            fp.seek(0)
            with open_image(fp, mime=mime, max_pixels=self.context.max_image_pixels) as img:
                stored = img.size
                img.draft("RGB", (512, 512))  # a JPEG decodes at a fraction of its size, its shape kept
                picture = img.convert("RGB")
                picture.thumbnail((512, 512))  # PDQ looks at 64x64 averages: more pixels change nothing
            return thumbnail_checks(picture, stored, small, int(self.params["thumbnail_threshold"]))
