"""Building a case report: the chosen sections read for a scope (reports.selectors), the thumbnails made
(reports.pictures), rendered by one template into a self-contained HTML document (inline style, every picture a
data: URI, no reference to anything outside it), and the PDF rendered by WeasyPrint from that same HTML with a URL
fetcher that refuses every URL but data:.

Suspect-controlled text (paths, EXIF, person names, hash-set names) goes through the template engine's escaping and
the `suspect` / `isolated` filters (bidi isolation, invisible characters shown as escapes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from PIL import ImageFile

from audit.chain import audit_chain_seal
from audit.selectors import ChainHead, audit_chain_head
from cases.models import Category
from reports.mapimage import map_png
from reports.pictures import Thumbnail, crop_make, data_uri, thumbnail_make
from reports.selectors import (
    LISTED,
    MANIFEST_FIELDS,
    Scope,
    audit_summary,
    categorised,
    category_counts,
    exhibits,
    first_instances,
    forensic,
    gps_count,
    gps_points,
    gps_rows,
    hash_hits,
    manifest_summary,
    people,
    persons,
    software,
    tools,
    veiled_image_ids,
)

# The sections a report may hold, in the order it shows them.
SECTIONS = {
    "case": "Case and exhibits",
    "people": "Examiner and reviewers",
    "manifest": "Source manifest",
    "hashsets": "Hash-set hits",
    "categories": "Categorised images",
    "gps": "EXIF and GPS",
    "persons": "Persons",
    "flags": "Forensic flags",
    "tools": "Tools and model versions",
    "audit": "Audit summary",
}
FORMATS = ("html", "pdf")
CHUNK = 200

# stage, done, total: what the build is at (the CLI's progress bar, the web page's).
Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    """A build nobody watches."""


def sections_parse(text: str) -> tuple[str, ...]:
    """The sections named in `text` ("case,gps"; empty: all), in the report's order. Raises ValueError naming
    the unknown ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown sections: {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    return tuple(name for name in SECTIONS if not names or name in names)


class _Veils:
    """Which thumbnails the report blurs: those of the case's sensitive categories and of images a flagging hash
    set matched in any job of the case (as the gallery veils them, per case), unless the requester asked to reveal
    them."""

    def __init__(self, scope: Scope, *, reveal: bool) -> None:
        self.reveal = reveal
        self.veiled = set() if reveal else veiled_image_ids(scope.case)

    def blur(self, image_id: int | None) -> bool:
        return not self.reveal and image_id in self.veiled


class _Pictures:
    """Makes the thumbnails, counting them for the progress."""

    def __init__(self, scope: Scope, veils: _Veils, progress: Progress, total: int) -> None:
        self.jobs = {job.pk: job for job in scope.jobs}
        self.veils, self.progress, self.total, self.done = veils, progress, total, 0

    def make(self, instance, image, *, blur: bool) -> Thumbnail:
        job = self.jobs.get(instance.job_id) if instance is not None else None
        thumbnail = thumbnail_make(job=job, instance=instance, image=image, blur=blur)
        self.done += 1
        self.progress("thumbnails", self.done, self.total)
        return thumbnail


def _category_rows(scope: Scope, category: Category, pictures: _Pictures) -> Iterator[dict[str, Any]]:
    rows = islice(categorised(scope, category), LISTED)
    while chunk := list(islice(rows, CHUNK)):
        where = first_instances(scope, [row.image_id for row in chunk])
        for row in chunk:
            instance = where.get(row.image_id)
            blur = pictures.veils.blur(row.image_id) or (category.sensitive and not pictures.veils.reveal)
            yield {
                "row": row,
                "instance": instance,
                "thumbnail": pictures.make(instance, row.image, blur=blur),
            }


def _chain_head() -> ChainHead | None:
    audit_chain_seal(wait=True)
    return audit_chain_head()


def report_context(
    *, scope: Scope, sections: tuple[str, ...], reveal: bool, requester: str, progress: Progress = _quiet
) -> dict[str, Any]:
    """Everything the report's template shows, for the `sections` chosen."""
    progress("reading", 0, len(sections))
    veils = _Veils(scope, reveal=reveal)
    counts = category_counts(scope) if "categories" in sections else []
    hits = hash_hits(scope) if "hashsets" in sections else []
    shown_matches = sum(len(hit["matches"]) for hit in hits)
    pictures = _Pictures(scope, veils, progress, sum(min(n, LISTED) for _, n in counts) + shown_matches)
    context: dict[str, Any] = {
        "case": scope.case,
        "job": scope.job,
        "scope_jobs": scope.jobs,
        "sections": {name: SECTIONS[name] for name in sections},
        "requester": requester,
        "reveal": reveal,
        "generated_at": dt.datetime.now(tz=dt.UTC),
        "listed": LISTED,
        # The head of the tamper-evident audit chain, every event recorded so far sealed first: quoted in every
        # report, it pins the log up to here.
        "chain_head": _chain_head(),
    }
    for done, name in enumerate(sections):
        progress(name, done, len(sections))
        if name == "case":
            context["exhibits"] = exhibits(scope)
        elif name == "people":
            context["people"] = people(scope)
        elif name == "manifest":
            context["manifests"] = [manifest_summary(job) for job in scope.jobs]
            context["manifest_fields"] = ", ".join(MANIFEST_FIELDS)
        elif name == "hashsets":
            for hit in hits:
                for match in hit["matches"]:
                    blur = veils.blur(match["image"].pk if match["image"] else None)
                    match["thumbnail"] = pictures.make(match["instance"], match["image"], blur=blur)
            context["hash_hits"] = hits
        elif name == "categories":
            context["categories"] = [
                {"category": category, "count": n, "rows": list(_category_rows(scope, category, pictures))}
                for category, n in counts
            ]
        elif name == "gps":
            png, outlines = map_png(gps_points(scope), atlas=settings.REPORT_ATLAS)
            context |= {"gps_count": gps_count(scope), "gps_rows": gps_rows(scope), "outlines": outlines,
                        "map_uri": data_uri(png, "image/png")}  # fmt: skip
        elif name == "persons":
            found = persons(scope)
            for person in found:
                face = person["face"]
                person["crop"] = crop_make(bytes(face.crop), blur=veils.blur(face.image_id)) if face else None
            context["persons"] = found
        elif name == "flags":
            counts_by_flag, flagged, listed = forensic(scope)
            context |= {"flag_counts": sorted(counts_by_flag.items()), "flagged": flagged, "flagged_rows": listed}
        elif name == "tools":
            context |= {"tools": tools(scope), "software": software()}
        elif name == "audit":
            context["audit"] = audit_summary(scope)
    progress("reading", len(sections), len(sections))
    return context


def report_html(context: dict[str, Any]) -> str:
    return render_to_string("reports/report.html", context)


def report_pdf(html: str) -> bytes:
    """The PDF of the report's HTML. WeasyPrint fetches nothing but data: URIs (the report holds no other).

    Importing WeasyPrint sets Pillow's ImageFile.LOAD_TRUNCATED_IMAGES for the whole process, which would make every
    later decode there (a worker's scan of evidence) take a truncated or damaged image for a sound one: the setting
    is put back as it was at once (the report's own pictures are whole)."""
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated

    fetcher = URLFetcher(allowed_protocols=("data",))
    return HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf()
