"""Gallery reads of the forensic stage: the flag filter, and the panel's forensic checks, XMP and IPTC of one image.

The filter reads the stage's flags, which belong to the content. `taken-after-modified` belongs to a file (its
modification time): the panel shows it beside the other flags for each path it holds for, and the export has it
per file, but the filter does not find it (an image is chosen by its content's flags).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef

from content.models import ForensicFlags
from extractors.forensic import FLAG_CODES
from jobs.models import FileInstance, Job
from jobs.selectors import file_forensic_flags, forensic_clock_tolerance

ANY_FLAG = "any"


def flag_filter(*, job: Job, flag: str) -> Exists:
    """A condition on rows with an `image` field: the forensic stage (of the job's version) raised `flag` on the
    image, or any flag (ANY_FLAG)."""
    rows = ForensicFlags.objects.filter(result__extractor_version=job.run_config.version("forensic"))
    if flag == ANY_FLAG:
        rows = rows.exclude(flags=[])
    elif connection.vendor == "postgresql":
        rows = rows.filter(flags__contains=[{"code": flag}])
    else:  # SQLite (the embedded configuration) has no JSON containment; the stored text is Django's json.dumps
        rows = rows.filter(flags__icontains=json.dumps({"code": flag})[1:-1])
    return Exists(rows.filter(image=OuterRef("image")))


def flag_choices() -> list[tuple[str, str]]:
    """The flag filter's values: any flag, then each code."""
    return [
        (ANY_FLAG, "any flag"),
        *((code, label) for code, label in FLAG_CODES.items() if code != "taken-after-modified"),
    ]


@dataclass(frozen=True)
class ForensicPanel:
    """What the panel shows of the forensic stage for one image. `analysed` is False when the stage has no result."""

    analysed: bool = False
    flags: list[dict[str, Any]] = field(default_factory=list)
    file_flags: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (path, flag)
    xmp_rows: list[tuple[str, str, str]] = field(default_factory=list)
    iptc_rows: list[tuple[str, str]] = field(default_factory=list)
    c2pa: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.flags) + len(self.file_flags)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def forensic_panel(*, job: Job, image_id: int, instances: Sequence[FileInstance]) -> ForensicPanel:
    """The forensic checks of an image of the job (the caller checked the job found it), with the file flags of
    `instances` (its files in this job)."""
    row = ForensicFlags.objects.filter(
        image_id=image_id, result__extractor_version=job.run_config.version("forensic")
    ).first()
    if row is None:
        return ForensicPanel()
    tolerance = forensic_clock_tolerance(job)
    return ForensicPanel(
        analysed=True,
        flags=list(row.flags),
        file_flags=[
            (instance.path, found)
            for instance in instances
            for found in file_forensic_flags(taken=row.taken, instance=instance, tolerance=tolerance)
        ],
        xmp_rows=[(group, tag, _text(value)) for group, tags in row.xmp.items() for tag, value in tags.items()],
        iptc_rows=[(tag, _text(value)) for tag, value in row.iptc.items()],
        c2pa=row.c2pa,
        warnings=list(row.warnings),
    )
