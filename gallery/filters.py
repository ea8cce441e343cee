"""The gallery's filters: what a request asks to narrow a job's images by, checked before any query is made
(gallery.selectors applies them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gallery.cursors import storable
from gallery.forensic import flag_choices
from gallery.hashmatches import KNOWN_GOOD_CHOICES


class FilterError(ValueError):
    """A filter value that no stored value can match, and that the database refuses to compare with."""


@dataclass(frozen=True)
class GalleryFilters:
    """The gallery's filters. Text values must be storable (valid UTF-8, no NUL): FilterError otherwise."""

    gps: bool = False
    errors: bool = False
    duplicates: bool = False
    mime: str = ""
    camera: str = ""
    taken_from: dt.date | None = None
    taken_to: dt.date | None = None
    faces: bool = False
    tag: str = ""
    # Found at a path whose extension names another type than the content (evidence.filetypes).
    extension_mismatch: bool = False
    # Found in this folder of the source (as shown, "" for the source itself), and with `subfolders` below it too.
    folder: str = ""
    subfolders: bool = True
    # Found at a path whose file name holds this text, in any letter case (in the folder, when one is chosen).
    name: str = ""
    # What the case's members decided (review.selectors.review_filter): a category code, "none", "proposed" or
    # "disputed"; bookmarked by `user`; with notes; reviewed "yes" or "no".
    category: str = ""
    bookmarked: bool = False
    noted: bool = False
    reviewed: str = ""
    # Raised by the forensic stage: a flag code (extractors.forensic.FLAG_CODES), or "any" (gallery.forensic).
    flag: str = ""
    # Images a known-good hash set matched (and no known-bad or alert one): "hidden" (by default), "shown" or "only".
    known_good: str = "hidden"
    # Only images a known-bad or alert hash set matched.
    hash_flagged: bool = False
    # With at least one near-duplicate in the job (jobs.similar: PDQ); `stack`: one tile per near-duplicate group
    # (its key image, the group's smallest image id), the others left out.
    near: bool = False
    stack: bool = False
    # Only images a person of the job's case is seen in (its id; persons.selectors.person_image_ids).
    person: int = 0
    # Whose bookmarks `bookmarked` reads: who is asking, not a filter of its own.
    user: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.reviewed not in ("", "yes", "no"):
            raise FilterError("the reviewed filter is yes or no")
        if self.known_good not in KNOWN_GOOD_CHOICES:
            raise FilterError("the known-good filter is hidden, shown or only")
        for name in ("mime", "camera", "tag", "folder", "name", "category"):
            if not storable(getattr(self, name)):
                raise FilterError(f"the {name} filter holds a character no stored value has")
        if "/" in self.name:
            raise FilterError("a file name holds no /")
        if not 0 <= self.person < 2**63:
            raise FilterError("no person has that number")
        if self.flag and self.flag not in dict(flag_choices()):
            raise FilterError("no forensic flag has that code")

    @property
    def by_path(self) -> bool:
        """Whether the filters choose among the paths of an image (folder, file name)."""
        return bool(self.folder or not self.subfolders or self.name)

    @property
    def active(self) -> bool:
        return self != GalleryFilters()

    @property
    def stages_read(self) -> set[str]:
        """The stages whose results the filters in use read: an image such a stage did not analyse matches none of
        them, which is no finding about that image."""
        return {stage for name, stage in _FILTER_STAGES.items() if getattr(self, name)}


_FILTER_STAGES = {
    "gps": "exif", "camera": "exif", "taken_from": "exif", "taken_to": "exif", "faces": "faces", "tag": "classify",
    "flag": "forensic",
    "near": "pdq",
}  # fmt: skip
