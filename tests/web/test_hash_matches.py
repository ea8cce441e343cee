"""What hash-set matches do on the web, with a real scan: known-good images hidden from the gallery unless the filter
shows them, known-bad ones badged and veiled for everyone and their set's category proposed in the case (confirmed
by a member like any other proposal, never over a member's own category), the sets in the panel, the counters of
the job and case pages, and the export's `hashset_matches`."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect

from cases.schemes import PROJECT_VIC
from cases.services import case_create, scheme_named
from hashsets.models import HashSet
from hashsets.signals import hash_sets_changed
from jobs.models import FileInstance, HashMatch
from jobs.selectors import file_instances_for_export
from jobs.services import job_share
from review.models import Categorisation, CategoryChange
from tests.support.cases import make_case
from tests.support.hashmatches import hash_set
from tests.support.waiting import wait_for
from tests.support.web import sign_in_browser

pytestmark = pytest.mark.integration

GOOD = "camera-0/DCIM/IMG_1000.jpg"
BAD = "screenshots/screen.png"


@pytest.fixture
def vic_case(examiner):
    return case_create(reference="2026-HS", title="hash sets", owner=examiner, scheme=scheme_named(name=PROJECT_VIC))


def image_of(job, path: str) -> int:
    return FileInstance.objects.get(job=job, path=path).image_id


def tiles(client, job, query: str = "") -> dict[int, str]:
    """Image id -> the tile's opening tag, of the gallery's first page."""
    html = client.get(reverse("jobs:gallery", args=[job.pk]) + query).content.decode()
    return {int(i): tag for tag, i in re.findall(r'(<a class="tile[^>]*data-image="(\d+)"[^>]*>)', html)}


def test_known_good_hidden_known_bad_veiled_proposed_and_exported(
    scan, sources_root, examiner, other, vic_case, client_for
):
    folder = sources_root / "case"
    make_case(folder)
    hash_set("NSRL", HashSet.Kind.KNOWN_GOOD, {folder / GOOD: "sha1", folder / "notes.txt": "md5"})
    hash_set("VICS-2024", HashSet.Kind.KNOWN_BAD, {folder / BAD: "md5"}, category="1")
    job = scan(examiner, case=vic_case)
    job_share(job=job, user=other, role="full")
    alice, bob = client_for(examiner), client_for(other)
    good, bad = image_of(job, GOOD), image_of(job, BAD)

    # Known-good: hidden by default, counted, shown by the filter.
    shown = tiles(bob, job)
    assert good not in shown
    assert bad in shown
    page = bob.get(reverse("jobs:gallery", args=[job.pk]))
    assert page.context["count"] == job.distinct_images - 1
    assert "known-good hidden" in page.content.decode()
    assert good in tiles(bob, job, "?known_good=shown")
    assert set(tiles(bob, job, "?known_good=only")) == {good}
    assert bob.get(reverse("jobs:gallery", args=[job.pk]) + "?known_good=maybe").status_code == 400

    # Known-bad: badged and veiled for everyone (no blur asked for), and filtered.
    assert "data-hashmatch" in shown[bad]
    assert "veiled" in shown[bad]
    assert all("veiled" not in tag for image, tag in shown.items() if image != bad)
    assert set(tiles(bob, job, "?hashmatch=1")) == {bad}
    panel = bob.get(reverse("jobs:image", args=[job.pk, bad])).content.decode()
    assert re.search(r"<strong>VICS-2024</strong> <span class=\"chip bad\">known-bad</span> <span[^>]*>by MD5", panel)
    assert 'class="preview-frame veiled' in panel

    # The set's category is proposed in the case, by no member: any member may confirm it.
    proposal = Categorisation.objects.get(case=vic_case, image_id=bad)
    assert (proposal.category.code, proposal.status, proposal.set_by) == ("1", "proposed", None)
    assert "hash set VICS-2024" in panel
    confirmed = bob.post(reverse("jobs:review_confirm", args=[job.pk]), {"ids": str(bad)}).json()
    assert confirmed["decisions"][str(bad)]["status"] == "confirmed"

    # Counters: the job page and the case page.
    detail = alice.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert re.search(r'data-field="hash_known_bad">1<', detail)
    assert re.search(r'data-field="hash_known_good">3<', detail)  # copies/holiday.jpg is the same file
    case_page = alice.get(reverse("casework:detail", args=[vic_case.pk])).content.decode()
    assert re.search(r'data-field="hash_known_bad">1<', case_page)

    # The export names the sets of each file, non-images included.
    records = {r["path"]: r for r in file_instances_for_export(job=job)}
    assert records[GOOD]["hashset_matches"] == "NSRL (known-good)"
    assert records["notes.txt"]["hashset_matches"] == "NSRL (known-good)"
    assert records[BAD]["hashset_matches"] == "VICS-2024 (known-bad)"
    assert records[BAD]["category_by"] == "hash set VICS-2024 (confirmed by bob@example.org)"
    assert records["copies/holiday.jpg"]["hashset_matches"] == "NSRL (known-good)"
    assert records["camera-1/DCIM/IMG_1001.jpg"]["hashset_matches"] == ""


def test_a_set_never_overrides_a_member_s_category(scan, sources_root, examiner, vic_case, client_for):
    folder = sources_root / "case"
    job = scan(examiner, case=vic_case)
    alice = client_for(examiner)
    mine, other_image = image_of(job, BAD), image_of(job, GOOD)
    alice.post(reverse("jobs:review_categorise", args=[job.pk]), {"ids": str(mine), "code": "5"})

    later = hash_set(
        "VICS-2025", HashSet.Kind.KNOWN_BAD, {folder / BAD: "sha256", folder / GOOD: "sha256"}, category="2"
    )
    hash_sets_changed.send(sender=HashSet, hash_set_id=later.pk)
    wait_for(lambda: HashMatch.objects.filter(job=job).count() == 3, message="the set's matches (a copy too)")
    wait_for(lambda: Categorisation.objects.filter(case=vic_case, image_id=other_image).exists(), message="a proposal")

    kept = Categorisation.objects.get(case=vic_case, image_id=mine)
    assert (kept.category.code, kept.set_by_id) == ("5", examiner.pk)
    assert not CategoryChange.objects.filter(case=vic_case, image_id=mine, user__isnull=True).exists()
    assert Categorisation.objects.get(case=vic_case, image_id=other_image).category.code == "2"


def test_in_the_browser_a_matched_tile_stays_marked_and_veiled(
    asgi_server, scan, sources_root, examiner, vic_case, client_for, page
):
    folder = sources_root / "case"
    make_case(folder)
    hash_set("Lab alerts", HashSet.Kind.ALERT, {folder / BAD: "md5"})
    job = scan(examiner, case=vic_case)
    bad = image_of(job, BAD)
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    tile = page.locator(f'.tile[data-image="{bad}"]')
    expect(tile).to_have_class(re.compile(r"\bveiled\b"))
    expect(tile.get_by_test_id("hashmatch-mark")).to_be_visible()

    # The user's blur switched on and off again: the matched picture stays veiled, and only it.
    page.get_by_test_id("veil-blur").check()
    expect(page.locator(".tile.veiled")).to_have_count(page.locator(".tile").count())
    page.get_by_test_id("veil-blur").uncheck()
    expect(page.locator(".tile.veiled")).to_have_count(1)
    expect(tile).to_have_class(re.compile(r"\bveiled\b"))

    # A category set meanwhile (by another page) is painted on the tile: the hash-set mark and the veil stay.
    expect(page.locator("#review .live")).to_have_attribute("data-state", "open")
    alice = client_for(examiner)

    def categorise() -> int:
        try:
            return alice.post(
                reverse("jobs:review_categorise", args=[job.pk]), {"ids": str(bad), "code": "5"}
            ).status_code
        finally:
            connections.close_all()

    # On a thread of its own: this one runs Playwright's event loop, where the change could not be announced.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(categorise).result() == 200
    expect(tile.get_by_test_id("badge")).to_have_text("5")
    expect(tile.get_by_test_id("hashmatch-mark")).to_be_visible()
    expect(tile).to_have_class(re.compile(r"\bveiled\b"))
