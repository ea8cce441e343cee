"""The Similar pane and the stacked gallery in a real browser (the pane loads when its tab is first opened)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import FileInstance
from jobs.similar import similar_caches_clear
from tests.support.pdq import VARIANTS, real_photo
from tests.support.web import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_similar_pane_and_stacks(asgi_server, scan, examiner, page, settings, sources_root):
    settings.SCAN_STAGES = ["exif", "pdq"]
    similar_caches_clear()
    folder = sources_root / "case"
    (folder / "copy").mkdir(parents=True)
    astronaut = real_photo("people/astronaut.png")
    astronaut.save(folder / "astronaut.png")
    astronaut.save(folder / "copy" / "astronaut.png")
    VARIANTS["turned 90°"](astronaut).save(folder / "turned.png")
    VARIANTS["mirrored"](astronaut).save(folder / "mirrored.jpg")
    real_photo("objects/coffee.png").save(folder / "coffee.png")
    job = scan(examiner, name="case")
    original = FileInstance.objects.get(job=job, path="astronaut.png").image_id
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)

    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    page.locator(f'.tile[data-image="{original}"]').click()
    panel = page.get_by_test_id("panel")
    panel.get_by_test_id("tab-similar").click()
    pane = panel.get_by_test_id("pane-similar")
    expect(pane.get_by_test_id("near")).to_have_count(2)
    expect(pane.get_by_test_id("exact-path")).to_have_count(2)
    for distance in pane.get_by_test_id("near-distance").all_inner_texts():
        assert 0 < int(distance) <= 31

    page.goto(f"{server.url}/jobs/{job.pk}/gallery/?stack=1")
    expect(page.locator(".tile")).to_have_count(2)  # the group of three, and the coffee
    expect(page.get_by_test_id("stack-count")).to_have_text("3")
    expect(page.get_by_test_id("filter-stack")).to_be_checked()
