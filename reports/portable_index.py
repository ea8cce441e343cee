"""The pages of a portable case a person reads: index.html, an offline viewer of the selected images (one file,
its style and script inline, nothing loaded from anywhere but the folder itself), README.txt, and the record of
each image (exports/images.csv and .jsonl).

Suspect text (the paths images were found at) is shown as recorded, in its display form (evidence.display),
HTML-escaped and in `<bdi>`, so that it can neither run nor reorder the page around it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import tomllib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from cases.models import Case
from cases.selectors import case_categories
from reports.portable_selection import PortableImage, PortableSelection

IMAGE_FIELDS = ["file", "sha256", "md5", "sha1", "size", "format", "width", "height", "category", "category_label",
                "category_status", "category_by", "bookmarked_by", "found_at", "unavailable"]  # fmt: skip


@dataclass(frozen=True)
class PortableMade:
    """Who made a portable case of which case, when, of what selection, with what in it."""

    case: Case
    by: str
    at: dt.datetime
    selection: PortableSelection
    images: int
    unavailable: int
    extra_names: list[str]


def tool_version() -> str:
    """This installation's version (pyproject.toml), "unknown" where it cannot be read."""
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as fp:
            return str(tomllib.load(fp)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def image_record(item: PortableImage, name: str, why: str) -> dict[str, Any]:
    """One image as exports/images.* lists it: its file here ("" when it could not be copied, `unavailable` says
    why), hashes, the case's decision, and every path the case's jobs found it at (as recorded)."""
    image = item.image
    by = item.set_by + (f" (confirmed by {item.confirmed_by})" if item.confirmed_by else "")
    return {
        "file": name, "sha256": image.sha256, "md5": image.md5, "sha1": image.sha1, "size": image.size,
        "format": image.format, "width": image.width, "height": image.height,
        "category": item.category.code if item.category else "",
        "category_label": item.category.label if item.category else "",
        "category_status": item.status + (", disputed" if item.disputed else ""), "category_by": by,
        "bookmarked_by": "; ".join(item.bookmarked_by),
        "found_at": [{"job": found.job_id, "exhibit": found.exhibit, "path": found.path} for found in item.found_at],
        "unavailable": why,
    }  # fmt: skip


def _inline(template: str) -> tuple[str, str]:
    """An inline asset's text and its CSP source ('sha256-...'), which lets that text and nothing else run."""
    text = render_to_string(template).strip()
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


def index_render(*, made: PortableMade, shown: list[tuple[PortableImage, str, str]]) -> str:
    """index.html: the header (case, who, when, selection), the category legend with the count of each here, and
    a card per image (`shown`: the image, its file here or "", why it is not here)."""
    css, css_source = _inline("reports/portable/viewer.css")
    js, js_source = _inline("reports/portable/viewer.js")
    # Nothing but the folder's own files: opened from disk (file:) or served as it is ('self').
    csp = (
        f"default-src 'none'; img-src 'self' file:; style-src {css_source}; script-src {js_source}; base-uri 'none'; "
        "form-action 'none'"
    )
    counts = Counter(item.category.code if item.category else "" for item, _, _ in shown)
    legend = [{"category": c, "count": counts.get(c.code, 0)} for c in case_categories(case=made.case) if not c.clears]
    return render_to_string(
        "reports/portable/index.html",
        {
            "case": made.case,
            "made": made,
            "version": tool_version(),
            "legend": legend,
            "shown": shown,
            "csp": csp,
            "css": mark_safe(css),  # noqa: S308 - the app's own stylesheet, no variables
            "js": mark_safe(js),  # noqa: S308 - the app's own script, no variables
        },
    )


def readme_render(*, made: PortableMade) -> str:
    """README.txt: what the folder is, who made it, when, from which case, with which version, and how to check
    it."""
    case = made.case
    extras = "".join(f"  {name}\n" for name in made.extra_names)
    unavailable = (
        f"{made.unavailable} selected images could not be read from the evidence as the scan recorded them; "
        "exports/images.csv says which and why.\n"
        if made.unavailable
        else ""
    )
    return (
        f"PORTABLE CASE {case.reference}: {case.title}\n\n"
        "This folder is a portable copy of a case of Image Scanner, for an examiner who does not have that system.\n"
        "Open index.html in any web browser: it needs no network and loads nothing from outside this folder.\n\n"
        f"Case:       {case.reference} ({case.title}), category scheme {case.scheme.name}\n"
        f"Made by:    {made.by}\n"
        f"Made at:    {made.at.astimezone(dt.UTC).isoformat(timespec='seconds')}\n"
        f"Tool:       Image Scanner {tool_version()}\n"
        f"Selection:  {made.selection.describe()}\n"
        f"Images:     {made.images} copied\n{unavailable}\n"
        "CONTENTS\n"
        "  index.html           the selected images with their categories, hashes and the paths they were found at\n"
        "  images/              each selected image exactly as found in the evidence, named by its SHA-256 and\n"
        "                       its format's extension (the original paths are data, never file names)\n"
        "  exports/images.csv   the selected images (also .jsonl): file here, hashes, category, every path found at\n"
        "  exports/files.csv    every file instance of the case's jobs (also .jsonl), as `manage.py export` writes\n"
        "                       it, each led by its job; CSV cells a spreadsheet would run as formulas begin with '\n"
        f"{extras}"
        "  README.txt           this file\n"
        "  SHA256SUMS           the SHA-256 of every other file here\n\n"
        "CHECKING\n"
        "Every file but SHA256SUMS itself is listed in SHA256SUMS. In this folder run:\n\n"
        "  sha256sum -c SHA256SUMS                (Linux; macOS: shasum -a 256 -c SHA256SUMS)\n\n"
        "Each line must end in OK. On Windows, compare `Get-FileHash -Algorithm SHA256 FILE` with its line.\n"
        "The SHA-256 of SHA256SUMS itself is kept in the audit log of the system that made this folder (event\n"
        "case.portable): a changed SHA256SUMS shows there. An image's file name is its SHA-256, so an image can\n"
        "also be checked on its own.\n"
    )
