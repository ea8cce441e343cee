"""Review in a real browser against the real web process (daphne), after a real scan: the keyboard viewer, grid
selection and bulk categories (all that match the filters, past the pages loaded), exposure reduction, and two
examiners seeing each other's changes live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jobs.models import JobImage
from jobs.services import job_share
from review.models import Categorisation, Note, ReviewMark
from tests.support.waiting import wait_for
from tests.support.web import screenshot, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def open_gallery(page, server, user, job) -> None:
    sign_in_browser(page.context, server, user)
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "open")


def hold_pages(page):
    """Hold back the gallery's further pages until the returned function is called."""
    held, released = [], []

    def hold(route) -> None:
        if released:
            route.continue_()
        else:
            held.append(route)

    def release() -> None:
        released.append(True)
        for route in held:
            route.continue_()

    page.route(re.compile(r"/gallery/more\?"), hold)
    return release


def categorised(job, code: str) -> set[int]:
    return set(Categorisation.objects.filter(case=job.case, category__code=code).values_list("image_id", flat=True))


def test_the_viewer_categorises_by_key_steps_through_pages_and_a_reload_keeps_it(asgi_server, scan, examiner, page):
    job = scan(examiner, extra=6)
    server = asgi_server(GALLERY_PAGE_SIZE="5")
    release = hold_pages(page)
    open_gallery(page, server, examiner, job)
    tiles = page.locator("#grid .tile")
    first = tiles.nth(0).get_attribute("data-image")
    tiles.nth(0).click()
    page.keyboard.press("Enter")
    viewer = page.get_by_test_id("viewer")
    expect(viewer).to_be_visible()
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"1 of {job.distinct_images}")
    expect(page.get_by_test_id("viewer-group")).to_have_text("Exact duplicates: 1 path in 1 job of the case")
    # The next three pictures are loaded ahead.
    ahead = [tiles.nth(i).get_attribute("data-image") for i in (1, 2, 3)]
    page.wait_for_function(
        "ids => ids.every(id => performance.getEntriesByType('resource')"
        ".some(e => e.name.endsWith(`/images/${id}/preview`)))",
        arg=ahead,
    )

    # A picture loaded ahead is shown at once: from the key to the picture drawn.
    shown_after = page.evaluate(
        """() => new Promise((done) => {
            const picture = document.getElementById("viewer-image");
            const start = performance.now();
            window.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight" }));
            const drawn = () => picture.decode().then(() => done(performance.now() - start));
            if (picture.complete) drawn(); else picture.addEventListener("load", drawn, { once: true });
        })"""
    )
    assert shown_after < 100, shown_after
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"2 of {job.distinct_images}")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"1 of {job.distinct_images}")

    page.keyboard.press("1")  # the general scheme's "Pertinent"
    expect(page.get_by_test_id("viewer-decision")).to_contain_text("pertinent Pertinent · set")
    expect(page.locator(f'#grid .tile[data-image="{first}"] [data-testid="badge"]')).to_have_text("pertinent")
    assert categorised(job, "pertinent") == {int(first)}

    # Past the five tiles loaded, the viewer waits for the next page and goes on.
    for position in range(2, 6):
        page.keyboard.press("ArrowRight")
        expect(page.get_by_test_id("viewer-position")).to_have_text(f"{position} of {job.distinct_images}")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#grid .tile")).to_have_count(5)
    release()
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"6 of {job.distinct_images}")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"7 of {job.distinct_images}")
    seventh = page.locator("#viewer-image").get_attribute("src")
    page.keyboard.press("2")
    expect(page.get_by_test_id("viewer-decision")).to_contain_text("not-pertinent")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("viewer-position")).to_have_text(f"6 of {job.distinct_images}")
    # The group key, then a category key: the category for the image's whole duplicate group.
    page.keyboard.press("g")
    expect(page.get_by_test_id("viewer-message")).to_contain_text("whole duplicate group")
    page.keyboard.press("3")
    expect(page.get_by_test_id("viewer-decision")).to_contain_text("second-look")
    page.keyboard.press("b")
    expect(page.get_by_test_id("viewer-decision")).to_contain_text("★ bookmarked")
    page.keyboard.press("n")
    expect(page.get_by_test_id("viewer-note")).to_be_focused()
    page.keyboard.type("Seen on the desktop too")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("viewer-message")).to_have_text("Note added")
    sixth = int(re.search(r"/images/(\d+)/preview", page.locator("#viewer-image").get_attribute("src"))[1])
    assert categorised(job, "second-look") == {sixth}
    assert Note.objects.get(case=job.case).image_id == sixth

    page.keyboard.press("?")
    expect(page.get_by_test_id("key-help")).to_be_visible()
    expect(page.get_by_test_id("key-help")).to_contain_text("Needs a second look")
    screenshot(page, "30-review-keys")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("key-help")).to_be_hidden()
    expect(viewer).to_be_visible()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    page.reload()
    expect(page.locator(f'#grid .tile[data-image="{first}"] [data-testid="badge"]')).to_have_text("pertinent")
    seventh_id = int(re.search(r"/images/(\d+)/preview", seventh)[1])
    assert categorised(job, "not-pertinent") == {seventh_id}
    expect(page.get_by_test_id("counters")).to_contain_text("Reviewed 3 /")


def test_range_selection_bulk_categories_all_matching_and_the_veil(asgi_server, scan, examiner, page):
    job = scan(examiner, extra=8)
    total = job.distinct_images
    server = asgi_server(GALLERY_PAGE_SIZE="5")
    release = hold_pages(page)  # only the first page is loaded while the selection is made
    open_gallery(page, server, examiner, job)
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(5)
    assert total > 5
    tiles.nth(0).click()
    tiles.nth(3).click(modifiers=["Shift"])
    tiles.nth(2).click(modifiers=["Control"])  # out again
    expect(page.get_by_test_id("selection-count")).to_have_text("3 selected")
    page.get_by_test_id("bulk-second-look").click()
    picked = [int(tiles.nth(i).get_attribute("data-image")) for i in (0, 1, 3)]
    for i in (0, 1, 3):
        expect(tiles.nth(i).get_by_test_id("badge")).to_have_text("second-look")
    expect(tiles.nth(2).get_by_test_id("badge")).to_have_count(0)
    assert categorised(job, "second-look") == set(picked)

    # All that match: the server picks every image, beyond the page loaded.
    page.get_by_test_id("select-all").click()
    expect(page.get_by_test_id("selection-count")).to_have_text(f"All {total} matching images selected")
    page.get_by_test_id("bulk-not-pertinent").click()
    expect(tiles.nth(4).get_by_test_id("badge")).to_have_text("not-pertinent")
    assert categorised(job, "not-pertinent") == set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    # The pages loaded now show it, selected with the rest.
    release()
    expect(tiles.nth(5).get_by_test_id("badge")).to_have_text("not-pertinent")
    expect(tiles.nth(5)).to_have_class(re.compile(r"\bpicked\b"))
    expect(page.get_by_test_id("counters")).to_contain_text(f"Reviewed {total} / {total}")
    page.get_by_test_id("mark-page").click()
    expect(page.get_by_test_id("counters")).to_contain_text(f"mine {total}")
    expect(page.get_by_test_id("members")).to_have_text(f"alice@example.org: {total} ({total} in the last hour)")
    assert ReviewMark.objects.filter(case=job.case, user=examiner).count() == total

    # The veil: set for the user, drawn by the server on the next load (nothing shows unveiled first), lifted one
    # picture at a time.
    page.get_by_test_id("veil-blur").check()
    expect(tiles.nth(0)).to_have_class(re.compile(r"\bveiled\b"))
    page.reload()
    expect(page.get_by_test_id("veil-blur")).to_be_checked()
    expect(tiles.nth(0)).to_have_class(re.compile(r"\bveiled\b"))
    assert "blur" in tiles.nth(0).locator("img").evaluate("img => getComputedStyle(img).filter")
    # In the panel, a click on the picture reveals it, there and on its tile.
    tiles.nth(1).click()
    expect(page.get_by_test_id("review")).to_have_attribute("data-image", tiles.nth(1).get_attribute("data-image"))
    frame = page.get_by_test_id("preview-frame")
    expect(frame).to_have_class(re.compile(r"\bveiled\b"))
    frame.click()
    expect(frame).to_have_class(re.compile(r"\brevealed\b"))
    expect(tiles.nth(1)).to_have_class(re.compile(r"\brevealed\b"))
    tiles.nth(0).click()
    page.keyboard.press("Enter")
    stage = page.get_by_test_id("viewer-stage")
    expect(stage).to_have_class(re.compile(r"\bveiled\b"))
    assert "blur" in page.locator("#viewer-image").evaluate("img => getComputedStyle(img).filter")
    page.keyboard.press("r")
    expect(stage).to_have_class(re.compile(r"\brevealed\b"))
    assert page.locator("#viewer-image").evaluate("img => getComputedStyle(img).filter") == "none"
    page.keyboard.press("ArrowRight")  # revealed in the panel
    expect(stage).to_have_class(re.compile(r"\brevealed\b"))
    page.keyboard.press("ArrowRight")
    expect(stage).not_to_have_class(re.compile(r"\brevealed\b"))
    screenshot(page, "31-review-veiled")


def test_two_examiners_see_each_others_changes_live(asgi_server, scan, examiner, other, browser, page):
    job = scan(examiner)
    job_share(job=job, user=other, role="full")
    server = asgi_server()
    open_gallery(page, server, examiner, job)
    bob_context = browser.new_context(viewport={"width": 1440, "height": 900})
    bob = bob_context.new_page()
    bob.set_default_timeout(20_000)
    violations: list[str] = []
    bob.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        open_gallery(bob, server, other, job)
        bob.evaluate("window.loadedOnce = true")  # gone if the page reloads
        image = page.locator("#grid .tile").nth(0).get_attribute("data-image")
        alice_tile = page.locator(f'#grid .tile[data-image="{image}"]')
        bob_tile = bob.locator(f'#grid .tile[data-image="{image}"]')

        alice_tile.click()
        page.get_by_test_id("category-pertinent").click()
        expect(page.get_by_test_id("review-state")).to_have_text("set")
        expect(bob_tile.get_by_test_id("badge")).to_have_text("pertinent")
        expect(bob.get_by_test_id("counters")).to_contain_text("Reviewed 1 /")

        # Bob, with the same image open, puts another category over it: Alice's page follows, and the history
        # keeps both changes in order.
        bob_tile.click()
        expect(bob.get_by_test_id("review-state")).to_have_text("set")
        bob.get_by_test_id("category-second-look").click()
        expect(alice_tile.get_by_test_id("badge")).to_have_text("second-look")
        history = page.get_by_test_id("history").locator("tr")
        expect(history).to_have_count(2)
        expect(history.nth(0)).to_contain_text("alice@example.org")
        expect(history.nth(0)).to_contain_text("— → pertinent (set)")
        expect(history.nth(1)).to_contain_text("bob@example.org")
        expect(history.nth(1)).to_contain_text("pertinent (set) → second-look (set)")
        # A note and a bookmark of Bob's: the note shows in Alice's panel, the bookmark is Bob's alone.
        bob.get_by_test_id("note-text").fill("Same picture as on the phone")
        bob.get_by_test_id("note-add").click()
        expect(page.get_by_test_id("notes")).to_contain_text("Same picture as on the phone")
        bob.get_by_test_id("bookmark-toggle").click()
        expect(bob_tile.get_by_test_id("bookmark-mark")).to_have_count(1)
        expect(alice_tile.get_by_test_id("bookmark-mark")).to_have_count(0)
        assert bob.evaluate("window.loadedOnce === true")
        screenshot(page, "32-review-live")
    finally:
        bob_context.close()
    assert not violations, violations


def test_a_burst_of_changes_is_read_again_in_one_request(asgi_server, scan, examiner, page):
    """Changes announced close together (a member going quickly through the pictures) are read again at once: one
    request of the decisions, with the counters, for the whole burst. The page's clock is held, so the burst falls
    within its coalescing time however slowly the announcements arrive."""
    job = scan(examiner)
    server = asgi_server()
    page.clock.install()
    announced: list[str] = []
    reads: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: announced.append(frame)))
    page.on("request", lambda request: reads.append(request.url) if "/review/decisions?" in request.url else None)
    open_gallery(page, server, examiner, job)
    images = [int(page.locator("#grid .tile").nth(i).get_attribute("data-image")) for i in range(3)]

    # Three changes of the user's own, made outside the page's review code (as from another page of theirs).
    page.evaluate(
        """async (images) => {
          const bar = document.getElementById("review");
          const url = bar.dataset.url.replace(/decisions$/, "categorise");
          const headers = { "X-CSRFToken": bar.dataset.csrf };
          for (const ids of images) {
            const body = new URLSearchParams({ ids, code: "pertinent" });
            await fetch(url, { method: "POST", credentials: "same-origin", headers, body });
          }
        }""",
        [str(image) for image in images],
    )
    wait_for(
        lambda: page.evaluate("0") or sum('"review"' in str(frame) for frame in announced) >= 3,
        message="the three changes announced",
    )
    page.clock.run_for(1000)
    for image in images:
        expect(page.locator(f'#grid .tile[data-image="{image}"]').get_by_test_id("badge")).to_have_text("pertinent")
    expect(page.get_by_test_id("counters")).to_contain_text("Reviewed 3 /")
    assert len(reads) == 1, reads
    assert "counters=" not in reads[0]
