"""The forensic stage through a real scan (workers on the exif queue): its flags stored with what made them, the
gallery's flag filter, the panel's forensic checks, XMP and IPTC (hostile text escaped), and the export's `flags`."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from content.models import ForensicFlags, StageResult
from gallery.filters import GalleryFilters
from gallery.selectors import gallery_count, gallery_image_ids
from jobs.models import FileInstance
from jobs.samples import write_photo
from jobs.selectors import file_instances_for_export
from tests.support.forensic import camera_photo, painted_over, signed, signing_chain, with_xmp
from tests.support.web import sign_in_browser

pytestmark = pytest.mark.integration


@pytest.fixture
def forensic_job(scan, examiner, sources_root, settings, tmp_path):
    settings.SCAN_STAGES = ["exif", "forensic"]
    folder = sources_root / "forensic"
    folder.mkdir()
    camera_photo(folder / "camera.jpg", seed=1)
    painted_over(camera_photo(tmp_path / "original.jpg", seed=2), folder / "edited.jpg")
    with_xmp(
        camera_photo(tmp_path / "h.jpg", seed=3), folder / "history.jpg",
        "-XMP-xmpMM:HistoryAction=saved", "-XMP-xmpMM:HistorySoftwareAgent=GIMP 2.10",
        "-XMP-dc:Description=caption \u202egpj.exe", "-IPTC:By-line=A. Photographer",
    )  # fmt: skip
    chain = signing_chain(tmp_path / "c2pa")
    signed(
        write_photo(tmp_path / "g.jpg", seed=4), folder / "generated.jpg", chain, source_type="trainedAlgorithmicMedia"
    )
    camera_photo(folder / "future.jpg", seed=5, taken="2030:01:01 12:00:00", offset="+00:00")  # written today
    return scan(examiner, name="forensic")


def flags_by_path(job) -> dict[str, list[str]]:
    rows = {row.image_id: row for row in ForensicFlags.objects.filter(image__job_images__job=job)}
    return {
        i.path: [flag["code"] for flag in rows[i.image_id].flags]
        for i in FileInstance.objects.filter(job=job, status=FileInstance.Status.IMAGE)
    }


def test_a_scan_records_each_images_flags_with_what_made_them(forensic_job):
    assert flags_by_path(forensic_job) == {
        "camera.jpg": [],
        "edited.jpg": ["thumbnail-differs"],
        "history.jpg": ["edit-history"],
        "generated.jpg": ["content-credentials", "ai-generated"],
        "future.jpg": [],  # its flag belongs to the file: see the panel and the export
    }
    results = StageResult.objects.filter(image__job_images__job=forensic_job, stage="forensic")
    assert {r.status for r in results} == {"done"}
    made_by = results.first()
    assert re.fullmatch(r"exiftool [\d.]+, c2pa-python 0\.38\.1, pdqhash", made_by.model_name)
    assert made_by.params["thumbnail_threshold"] == 48
    assert made_by.extractor_version == forensic_job.run_config.version("forensic")


def test_the_gallery_filters_by_flag(forensic_job, client_for, examiner):
    def found(flag: str) -> set[str]:
        paths = FileInstance.objects.filter(job=forensic_job, status=FileInstance.Status.IMAGE)
        chosen = gallery_count(job=forensic_job, filters=GalleryFilters(flag=flag))
        ids = set(gallery_image_ids(job=forensic_job, filters=GalleryFilters(flag=flag)))
        assert len(ids) == chosen
        return {i.path for i in paths if i.image_id in ids}

    assert found("thumbnail-differs") == {"edited.jpg"}
    assert found("ai-generated") == {"generated.jpg"}
    assert found("any") == {"edited.jpg", "history.jpg", "generated.jpg"}
    assert found("editing-software") == set()

    client = client_for(examiner)
    page = client.get(reverse("jobs:gallery", args=[forensic_job.pk]) + "?flag=thumbnail-differs")
    assert page.status_code == 200
    assert '<option value="thumbnail-differs" selected>' in page.text
    assert client.get(reverse("jobs:gallery", args=[forensic_job.pk]) + "?flag=nonsense").status_code == 400


def test_the_panel_shows_the_flags_with_their_reasons_and_xmp_and_iptc_escaped(forensic_job, client_for, examiner):
    client = client_for(examiner)

    def panel(path: str) -> str:
        image_id = FileInstance.objects.get(job=forensic_job, path=path).image_id
        response = client.get(reverse("jobs:image", args=[forensic_job.pk, image_id]))
        assert response.status_code == 200
        return response.text

    edited = panel("edited.jpg")
    assert 'data-flag="thumbnail-differs"' in edited
    assert "the EXIF thumbnail differs from the picture (PDQ distance" in edited

    history = panel("history.jpg")
    assert "the XMP holds an edit history: 1 step (saved GIMP 2.10)" in history
    assert 'data-testid="xmp"' in history
    assert 'data-testid="iptc"' in history
    assert "A. Photographer" in history
    assert "\u202e" not in history  # the right-to-left override is shown as its escape, isolated
    assert "<bdi>caption \\u202egpj.exe</bdi>" in history

    generated = panel("generated.jpg")
    assert 'data-testid="c2pa"' in generated
    assert "Test Signer" in generated
    assert "the C2PA content credentials declare the picture AI-generated" in generated

    future = panel("future.jpg")
    assert 'data-flag="taken-after-modified"' in future
    assert "DateTimeOriginal 2030-01-01T12:00:00+00:00 is later than the file&#x27;s modification time" in future

    assert 'data-testid="no-flags"' in panel("camera.jpg")


def test_the_export_has_each_files_flags(forensic_job):
    records = {r["path"]: r for r in file_instances_for_export(job=forensic_job)}
    assert {path: r["flags"] for path, r in records.items()} == {
        "camera.jpg": "",
        "edited.jpg": "thumbnail-differs",
        "history.jpg": "edit-history",
        "generated.jpg": "content-credentials; ai-generated",
        "future.jpg": "taken-after-modified",
    }
    assert list(records["camera.jpg"])[33] == "flags"


@pytest.mark.browser
def test_the_forensic_pane_and_the_flag_filter_in_a_browser(forensic_job, asgi_server, examiner, page):
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{forensic_job.pk}/gallery/")
    page.get_by_test_id("flag").select_option("thumbnail-differs")
    page.get_by_role("button", name="Apply").click()
    edited = FileInstance.objects.get(job=forensic_job, path="edited.jpg").image_id
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(1)
    expect(page.get_by_test_id("count")).to_contain_text("1 of 5 distinct images")
    tiles.first.click()
    panel = page.get_by_test_id("panel")
    expect(panel.get_by_test_id("pane-info")).to_be_visible()
    assert tiles.first.get_attribute("data-image") == str(edited)
    expect(panel.get_by_test_id("flag-count")).to_have_text("1")
    panel.get_by_role("tab", name=re.compile("Forensic")).click()
    flags = panel.get_by_test_id("pane-forensic")
    expect(flags).to_be_visible()
    expect(flags.locator('[data-flag="thumbnail-differs"]')).to_contain_text("the EXIF thumbnail differs")
