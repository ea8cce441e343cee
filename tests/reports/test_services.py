"""Case reports from the services: the sections and their counts read back from the HTML and the PDF's text,
hostile names escaped and bidi-isolated, nothing outside the file referred to, veiled thumbnails blurred in their
pixels unless revealed (and audited so), the manifest's SHA-256 reproducible, and need-to-know."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageFile, ImageFilter, ImageStat

from audit.models import AuditEvent, AuditSeal
from reports.build import SECTIONS, sections_parse
from reports.pictures import BLUR_RADIUS
from reports.selectors import manifest_lines
from reports.services import ReportRefused, report_scope_for, report_write
from tests.support.reports import HOSTILE_MAKE, HOSTILE_PERSON, MODEL_SHA256, report_case

pytestmark = pytest.mark.django_db


def _write(scope, tmp_path: Path, *, fmt: str = "html", reveal: bool = False, sections=tuple(SECTIONS)):
    target = tmp_path / f"report-{reveal}.{fmt}"
    written = report_write(scope=scope, sections=sections, fmt=fmt, reveal=reveal, requester="lead", target=target)
    return written, target


def _figures(html: str) -> dict[str, str]:
    """The data: URI of each figure's picture, by the SHA-256 its caption names."""
    found = {}
    for figure in re.findall(r"<figure>(.*?)</figure>", html, re.S):
        src = re.search(r'<img src="([^"]+)"', figure)
        sha = re.search(r'class="hash">([0-9a-f]{64})<', figure)
        if src and sha:
            found[sha.group(1)] = src.group(1)
    return found


def _pixels(uri: str) -> PILImage.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return PILImage.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L")


def test_html_report_holds_every_section_with_its_counts_and_refers_to_nothing_outside(reported, team, tmp_path):
    scope = report_scope_for(user=team["lead"], reference="2024-017")
    written, target = _write(scope, tmp_path)
    html = target.read_text()
    assert written.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    for name, title in SECTIONS.items():
        assert f'<section id="{name}">' in html
        assert title in html
    # Case and exhibits, members and who categorised what.
    assert "2024-017" in html
    assert "Every job of the case (1)" in html
    assert f"#{reported.job.pk}" in html
    members = html.split('id="people"')[1].split("</table>")[0]
    assert re.search(r"lead@example.org</td><td>Lead</td>\s*<td class=\"n\">1</td><td class=\"n\">1</td>", members)
    assert re.search(
        r"examiner@example.org</td><td>Examiner</td>\s*<td class=\"n\">1</td><td class=\"n\">0</td>", members
    )
    assert members.index("lead@") < members.index("examiner@") < members.index("reviewer@")
    # The manifest: counts and the SHA-256 of the lines `report --manifest` writes.
    manifest = hashlib.sha256(b"".join(manifest_lines(reported.job))).hexdigest()
    assert manifest in html
    # Hash-set hits, categories (counts), GPS (two positions, a map), persons, flags, tools, audit.
    assert "Known bad 2024-017" in html
    assert "1 file, 1 distinct image matched" in html
    assert re.search(r"5 Non-pertinent</td><td class=\"n\">1</td>", html)
    assert re.search(r"1 Child abuse material \(sensitive\)</td><td class=\"n\">1</td>", html)
    assert "2 images with a GPS position" in html
    assert 'class="map" src="data:image/png;base64,' in html
    assert "48.858400" in html
    assert "51.500700" in html
    assert "1 face" in html
    assert "edited-by-software" in html
    assert "1 image flagged" in html
    assert MODEL_SHA256 in html
    assert "buffalo_s" in html
    assert "review.category.set" in html
    # The head of the audit chain, every event so far sealed first: a seal of the log.
    seq, head = re.search(
        r"event (\d+) of the chain, .*? hash <span class=\"hash\">([0-9a-f]{64})</span>", html
    ).groups()
    assert AuditSeal.objects.get(seq=int(seq)).hash == head
    assert not AuditEvent.objects.filter(
        seal__isnull=True, id__lt=AuditSeal.objects.get(seq=int(seq)).event_id
    ).exists()
    # Hostile names: escaped by the template engine, and isolated.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_MAKE not in html
    assert "<bdi>&lt;img src=&quot;http://evil.example/x.png&quot;&gt;</bdi>" in html
    assert HOSTILE_PERSON not in html
    assert "<b>evil</b>" not in html
    assert "<bdi>Mallory" in html
    # Nothing outside the file: every src, href and url() is a data: URI.
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    assert references
    assert all(ref.startswith("data:") for ref in references), references
    for ref in references:
        assert "http://" not in ref
        assert "https://" not in ref
    assert len(re.findall(r"<img ", html)) == len(re.findall(r'<img [^>]*src="data:', html)) == 5
    # Recorded with its SHA-256, sections, and that nothing was revealed.
    event = AuditEvent.objects.filter(action="report.create", outcome="ok").get()
    assert event.data["sha256"] == written.sha256
    assert event.data["sections"] == list(SECTIONS)
    assert event.data["revealed"] is False
    assert event.target == "2024-017"


def test_veiled_thumbnails_are_blurred_in_their_pixels_unless_revealed_and_the_reveal_is_audited(
    reported, team, tmp_path
):
    scope = report_scope_for(user=team["lead"], reference="2024-017")
    _, veiled = _write(scope, tmp_path, sections=("hashsets", "categories"))
    _, revealed = _write(scope, tmp_path, sections=("hashsets", "categories"), reveal=True)
    shown, clear = _figures(veiled.read_text()), _figures(revealed.read_text())
    for key in ("hostile", "flagged"):  # sensitive category; known-bad match
        sha = reported.images[key].sha256
        blurred, sharp = _pixels(shown[sha]), _pixels(clear[sha])
        difference = ImageStat.Stat(ImageChops.difference(blurred, sharp)).mean[0]
        assert difference > 3, difference
        # It is the picture shown in the clear, blurred (up to JPEG's losses).
        again = sharp.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
        assert ImageStat.Stat(ImageChops.difference(blurred, again)).mean[0] < difference / 3
    beach = reported.images["beach"].sha256
    assert shown[beach] == clear[beach]  # not veiled: the same picture either way
    assert ">blurred<" in veiled.read_text()
    assert ">blurred<" not in revealed.read_text()
    events = AuditEvent.objects.filter(action="report.create", outcome="ok").order_by("id")
    assert [e.data["revealed"] for e in events] == [False, True]


def test_pdf_report_text_holds_the_sections_and_counts(reported, team, tmp_path, pdftext):
    scope = report_scope_for(user=team["lead"], job_id=reported.job.pk)
    written, target = _write(scope, tmp_path, fmt="pdf")
    assert target.read_bytes().startswith(b"%PDF-")
    # WeasyPrint's import would have Pillow take truncated evidence for sound images in this process from then on.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert written.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    text = pdftext(target)
    assert f"Job #{reported.job.pk} (phone) of the case" in text
    for title in SECTIONS.values():
        assert title in text, title
    manifest = hashlib.sha256(b"".join(manifest_lines(reported.job))).hexdigest()
    assert manifest[:20] in text.replace("\n", "").replace(" ", "")
    assert "2 images with a GPS position" in text
    assert "Known bad 2024-017" in text
    assert "<script>alert(1)</script>" in re.sub(r"\s+", "", text)  # shown as text, never run
    assert "edited-by-software" in text
    assert "Non-pertinent" in text
    event = AuditEvent.objects.get(action="report.create", outcome="ok")
    assert event.job_id == reported.job.pk
    assert event.data["format"] == "pdf"


def test_a_report_never_holds_images_of_a_case_the_requester_is_not_in(reported, team, tmp_path, evidence_dir):
    other_root = evidence_dir.parent / "other"
    other_root.mkdir()
    other = report_case(root=other_root, lead=team["outsider"], examiner=team["examiner"],
                        reviewer=team["reviewer"], reference="2024-099", seed=7)  # fmt: skip
    # The lead of 2024-017 is no member of 2024-099: neither the case nor its job.
    for asked in ({"reference": "2024-099"}, {"job_id": other.job.pk}, {"case_id": other.case.pk}):
        with pytest.raises(ReportRefused):
            report_scope_for(user=team["lead"], **asked)
    refusals = AuditEvent.objects.filter(action="report.create", outcome="refused")
    assert refusals.count() == 3
    # A member of both gets each report with its own case's images only.
    scope = report_scope_for(user=team["examiner"], reference="2024-017")
    _, target = _write(scope, tmp_path)
    html = target.read_text()
    for image in reported.images.values():
        assert image.sha256 in html or image == reported.images["face"]
    for image in other.images.values():
        assert image.sha256 not in html
    assert "2024-099" not in html


def test_sections_are_chosen_by_name():
    assert sections_parse("") == tuple(SECTIONS)
    assert sections_parse("gps, case") == ("case", "gps")
    with pytest.raises(ValueError, match="unknown sections: nope"):
        sections_parse("case,nope")


def test_a_missing_evidence_file_shows_as_unavailable_not_as_an_error(reported, team, tmp_path):
    (reported.root / "beach.jpg").unlink()
    scope = report_scope_for(user=team["lead"], reference="2024-017")
    _, target = _write(scope, tmp_path, sections=("categories",))
    assert "no picture: <bdi>evidence file unavailable" in target.read_text()
