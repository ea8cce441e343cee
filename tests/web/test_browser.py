"""The whole web app in a real browser against a live server and real workers: an examiner signs up, scans a case
and reviews it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from playwright.sync_api import expect

from content.models import ExifData, Face
from jobs.models import FileInstance, Job, JobImage
from jobs.samples import exif_bytes, write_photo
from tests.support.cases import make_case
from tests.support.images import jpeg_bytes
from tests.support.ml import classify_env, face_picture, write_picture
from tests.support.sources import sources_assigned
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, screenshot, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EMAIL = "examiner@lab.example"
STRONG = "violet quarry harbour 1987"


def sign_up(page, base: str, mail: Path) -> None:
    """Sign up (the web server opens sign-up and writes its mail to files in `mail`), verify the address with the
    link mailed to it, and sign in."""
    page.goto(f"{base}/jobs/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    screenshot(page, "01-sign-in")
    page.get_by_role("link", name="sign up").click()
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", "password123")
    page.fill("input[name=password2]", "password123")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.locator(".errorlist").first).to_be_visible()  # too common, too short
    screenshot(page, "02-sign-up-weak-password")
    page.fill("input[name=password1]", STRONG)
    page.fill("input[name=password2]", STRONG)
    page.get_by_role("button", name="Sign Up").click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    [link] = re.findall(r"http://\S+/accounts/confirm-email/\S+/", "".join(f.read_text() for f in mail.iterdir()))
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    sign_in(page)


def sign_in(page) -> None:
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", STRONG)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))


def sign_out_and_in(page, base: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/(login|logout)/"))
    page.goto(f"{base}/accounts/login/")
    sign_in(page)
    expect(page.locator(".account .initials")).to_have_text("E")


def scroll_to_end(page) -> None:
    def at_end() -> bool:
        page.eval_on_selector("#grid-scroll", "el => el.scrollTo(0, el.scrollHeight)")
        return page.locator("#sentinel[data-end]").count() == 1

    wait_for(at_end, timeout=60, interval=0.2, message="the gallery's last page")


def test_examiner_signs_up_scans_a_case_and_reviews_it(
    asgi_server, workers, ml_workers, tiny_models, sources_root, transactional_db, page, tmp_path
):
    ml_workers(tiny_models)
    case = sources_root / "case-2024-117"
    expected = make_case(case, extra=37)
    write_picture(case / "phone" / "two-people.jpg", face_picture(faces=((256, 192), (640, 448))))
    write_picture(case / "phone" / "one-person.jpg", face_picture(faces=((320, 128),), shade=150))
    expected = {**expected, "files": expected["files"] + 2, "distinct": expected["distinct"] + 2}
    assert expected["distinct"] == 49  # pages of 20, 20 and 9
    (sources_root / "case-2024-118").mkdir()
    # The web process creates the job, so it takes the tiny classify model from its environment, as the ML worker.
    mail = tmp_path / "mail"
    # The web server creates the job, which freezes the face pack: the tiny models are laid out as buffalo_l.
    base = asgi_server(
        GALLERY_PAGE_SIZE="20",
        MODELS_ROOT=str(tiny_models),
        FACES_PACK="buffalo_l",
        ACCOUNT_SIGNUP_ENABLED="true",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail),
        **classify_env(),
    ).url

    sign_up(page, base, mail)
    # Staff assign the case's folder to a case the examiner leads: a source nobody assigned them is not offered.
    sources_assigned(get_user_model().objects.get(email=EMAIL), "case-2024-117")
    screenshot(page, "03-jobs-empty")
    sign_out_and_in(page, base)

    page.get_by_test_id("new-job").click()
    page.fill("input[name=name]", "Case 2024-117")
    page.fill("textarea[name=description]", "Seized laptop, user folder")
    page.select_option("select[name=source]", "case-2024-117")
    for stage in ("exif", "faces", "classify"):
        expect(page.locator(f"input[name=stages][value={stage}]")).to_be_checked()
    screenshot(page, "04-job-new")
    page.get_by_role("button", name="Create and start").click()

    expect(page.locator('#job[data-status="completed"]')).to_be_attached(timeout=120_000)
    job = Job.objects.get(name="Case 2024-117")
    assert job.owner.email == EMAIL
    assert (job.files_seen, job.distinct_images, job.errors) == (expected["files"], expected["distinct"], 1)
    expect(page.locator('[data-field="files_seen"]')).to_have_text(str(expected["files"]))
    expect(page.locator("#errors")).to_contain_text("truncated JPEG")
    # A finished job's bars show its counts (it gets no live events to draw them from).
    for stage in ("exif", "faces", "classify"):
        expect(page.locator(f'.stage[data-stage="{stage}"] [data-part="done"]')).to_have_attribute(
            "style", "width: 100%;"
        )
    screenshot(page, "05-job-detail")
    # Its history, for its owner: created and started from this browser.
    history = page.get_by_test_id("history")
    history.scroll_into_view_if_needed()
    expect(history).to_contain_text("job.create")
    expect(history).to_contain_text("job.start")
    screenshot(page, "05-job-history")

    page.goto(f"{base}/jobs/")
    row = page.locator(f'tr[data-job="{job.pk}"]')
    expect(row.locator(".status")).to_have_attribute("data-status", "completed")
    screenshot(page, "06-jobs-list")

    # The gallery: scrolled to the very end, every image is there once, the last partial page included.
    row.get_by_role("link", name="Gallery").click()
    expect(page.locator(".tile").first).to_be_visible()
    # The page arrives with the first 20 (the browser may fetch the next page at once, when the end is in view).
    assert page.request.get(page.url).text().count('<a class="tile"') == 20
    scroll_to_end(page)
    shown = page.eval_on_selector_all(".tile", "tiles => tiles.map(t => Number(t.dataset.image))")
    assert len(shown) == len(set(shown)) == expected["distinct"]
    assert set(shown) == set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    expect(page.locator("#sentinel")).to_contain_text(f"{expected['distinct']} images")
    page.eval_on_selector("#grid-scroll", "el => el.scrollTo(0, 0)")
    wait_for(
        lambda: page.evaluate(
            "[...document.querySelectorAll('.tile img')].slice(0, 12).every(i => i.complete && i.naturalWidth > 0)"
        ),
        timeout=30,
        message="thumbnails to load",
    )
    screenshot(page, "07-gallery")

    # The camera menu fills itself when first opened.
    page.locator("select[name=camera]").focus()
    expect(page.locator("select[name=camera] option")).to_have_count(5)

    # Justified rows: the size slider changes the row height.
    first = page.locator(".tile").first
    before = first.bounding_box()["height"]
    page.locator("#size").fill("300")
    wait_for(lambda: first.bounding_box()["height"] > before * 1.3, timeout=10, message="taller rows")
    page.locator("#size").fill("180")

    # The side panel of an image with a GPS position: info, EXIF, location with a map marker.
    exif = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False, camera_model="EOS 80D").first()
    tile = page.locator(f'.tile[data-image="{exif.image_id}"]')
    tile.scroll_into_view_if_needed()
    tile.click()
    panel = page.get_by_test_id("panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("pane-info")).to_contain_text(exif.image.sha256)
    wait_for(
        lambda: panel.get_by_test_id("preview").evaluate("img => img.complete && img.naturalWidth > 0"),
        timeout=30,
        message="the preview",
    )
    screenshot(page, "08-panel-info")

    panel.get_by_role("tab", name=re.compile("EXIF")).click()
    exif_pane = panel.get_by_test_id("pane-exif")
    expect(exif_pane).to_contain_text("DateTimeOriginal")
    panel.get_by_test_id("exif-filter").fill("model")
    expect(exif_pane.locator("tbody tr:visible")).to_have_count(1)
    expect(exif_pane.locator("tbody tr:visible")).to_contain_text("EOS 80D")
    screenshot(page, "09-panel-exif")

    panel.get_by_role("tab", name=re.compile("Location")).click()
    location = panel.get_by_test_id("pane-location")
    expect(location.get_by_test_id("lat")).to_have_text(str(exif.gps_lat))
    expect(location).to_contain_text("51\u00b030\u2032")
    expect(location.locator(".leaflet-marker-icon")).to_be_visible()
    screenshot(page, "10-panel-location")

    # The original is only one explicit click away, and served as the exact evidence bytes.
    original = page.request.get(base + panel.get_by_test_id("download").get_attribute("href"))
    assert original.status == 200
    assert "attachment" in original.headers["content-disposition"]

    # Faces: the switch draws the boxes over the pictures in the grid and in the panel; the pane shows round crops.
    faces = Face.objects.filter(image__job_images__job=job)
    assert faces.count() == 3
    two = faces.filter(index=1).get().image_id
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    boxes = page.locator(f'.tile[data-image="{two}"] .face-box')
    expect(boxes).to_have_count(2)
    expect(boxes.first).to_be_hidden()
    page.get_by_test_id("face-boxes").check()
    page.locator(f'.tile[data-image="{two}"]').scroll_into_view_if_needed()
    expect(boxes.first).to_be_visible()
    tile_box = page.locator(f'.tile[data-image="{two}"]').bounding_box()
    face_box = boxes.first.bounding_box()
    # The first face is the 64-pixel square at (256, 192) of a 1280x960 picture: its box sits there on the tile.
    assert abs((face_box["x"] - tile_box["x"]) / tile_box["width"] - 256 / 1280) < 0.02
    assert abs(face_box["width"] / tile_box["width"] - 64 / 1280) < 0.02
    page.locator(f'.tile[data-image="{two}"]').click()
    expect(panel.locator(".preview .face-box")).to_have_count(2)
    expect(panel.locator(".preview .face-box").first).to_be_visible()
    panel.get_by_role("tab", name=re.compile("Faces")).click()
    crops = panel.get_by_test_id("pane-faces").locator(".face img")
    expect(crops).to_have_count(2)
    expect(crops.first).to_have_js_property("complete", True)
    assert crops.first.evaluate("img => img.naturalWidth") > 0
    wait_for(
        lambda: panel.get_by_test_id("preview").evaluate("img => img.complete && img.naturalWidth > 0"),
        timeout=30,
        message="the preview",
    )
    page.locator(f'.tile[data-image="{two}"]').scroll_into_view_if_needed()
    expect(panel.get_by_test_id("pane-info").get_by_test_id("tags")).to_be_attached()
    screenshot(page, "11-panel-faces")
    page.get_by_test_id("face-boxes").uncheck()
    expect(boxes.first).to_be_hidden()

    # The map of every GPS image of the job.
    page.goto(f"{base}/jobs/{job.pk}/map/")
    gps_count = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False).count()
    expect(page.locator("#map-count")).to_have_text(f"{gps_count} images with a GPS position")
    expect(page.get_by_test_id("job-map")).to_have_attribute("data-ready", "1")
    screenshot(page, "12-map")


def test_staff_manage_users_and_delete_a_job(asgi_server, transactional_db, make_user, sources_root, page):
    from jobs.services import job_create

    make_user("lead@lab.example", staff=True)
    examiner = make_user("examiner@lab.example")
    make_case(sources_root / "case-2024-200")
    job = job_create(name="Case 2024-200", source_path=sources_root / "case-2024-200", owner=examiner)
    base = asgi_server().url
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", "lead@lab.example")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))

    page.get_by_role("link", name="Users").click()
    row = page.locator(f'tr[data-user="{examiner.pk}"]')
    expect(row).to_contain_text("examiner")
    row.get_by_role("button", name="Deactivate").click()
    expect(page.locator(f'tr[data-user="{examiner.pk}"]')).to_contain_text("deactivated")
    screenshot(page, "13-users")

    page.goto(f"{base}/jobs/{job.pk}/")
    page.get_by_test_id("delete").click()
    expect(page.locator("main")).to_contain_text("record of 0 files found in case-2024-200")
    screenshot(page, "14-job-delete")
    page.get_by_test_id("confirm-delete").click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))
    assert not Job.objects.filter(pk=job.pk).exists()


def test_the_map_says_when_it_draws_only_the_first_positions(asgi_server, scan, examiner, page):
    job = scan(examiner, extra=6)
    located = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False).count()
    assert located > 2
    for cap, text in ((2, f"{located} images with a GPS position, showing the first 2"),
                      (located, f"{located} images with a GPS position")):  # fmt: skip
        server = asgi_server(MAP_MAX_POINTS=str(cap))
        sign_in_browser(page.context, server, examiner)
        page.goto(f"{server.url}/jobs/{job.pk}/map/")
        expect(page.get_by_test_id("job-map")).to_have_attribute("data-ready", "1")
        expect(page.locator("#map-count")).to_have_text(text)


def test_a_gallery_page_that_failed_to_load_is_asked_for_again(asgi_server, scan, examiner, page):
    job = scan(examiner, extra=15)
    distinct = job.distinct_images
    server = asgi_server(GALLERY_PAGE_SIZE="5")
    sign_in_browser(page.context, server, examiner)
    refused: list[str] = []

    def refuse_once(route) -> None:
        if refused:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.fulfill(status=503, body="")

    page.route(re.compile(r"/gallery/more\?"), refuse_once)
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    sentinel = page.get_by_test_id("sentinel")
    expect(sentinel).to_contain_text("Could not load more images (503); trying again in 3 s.")
    scroll_to_end(page)
    expect(sentinel).to_have_text(f"End of gallery · {distinct} images")
    assert page.locator(".tile").count() == distinct
    assert len(refused) == 1


def test_no_page_asks_a_third_party_and_the_maps_work_offline(asgi_server, scan, examiner, page):
    """Every request of every page (sign-in, jobs list, job page, gallery with the location pane open, job map) goes
    to this server alone: evidence locations never leave the lab. The maps draw the shipped country outlines, and the
    job map clusters its markers."""
    job = scan(examiner, extra=9)
    located = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False)
    server = asgi_server()
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))

    page.goto(f"{server.url}/accounts/login/")
    expect(page.locator("input[name=login]")).to_be_visible()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/")
    expect(page.locator(f'tr[data-job="{job.pk}"] .status')).to_have_attribute("data-status", "completed")
    page.goto(f"{server.url}/jobs/{job.pk}/")
    expect(page.locator("main")).to_contain_text(job.name)

    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    tile = page.locator(f'.tile[data-image="{located.first().image_id}"]')
    tile.scroll_into_view_if_needed()
    tile.click()
    panel = page.get_by_test_id("panel")
    panel.get_by_role("tab", name=re.compile("Location")).click()
    location = panel.get_by_test_id("pane-location")
    expect(location.locator(".leaflet-marker-icon")).to_be_visible()
    wait_for(lambda: location.locator(".leaflet-basemap-pane path").count() > 100, message="outlines in the pane")
    screenshot(page, "15-panel-location-offline")

    page.goto(f"{server.url}/jobs/{job.pk}/map/")
    expect(page.get_by_test_id("job-map")).to_have_attribute("data-ready", "1")
    assert page.locator(".leaflet-basemap-pane path").count() > 100  # drawn before the map says it is ready
    for _ in range(4):  # out to where the positions (a few hundred metres apart in Paris) gather
        page.locator(".leaflet-control-zoom-out").click()
    cluster = page.locator(".marker-cluster").first
    expect(cluster).to_be_visible()
    assert int(cluster.inner_text()) > 1
    screenshot(page, "16-map-offline")

    assert requested
    foreign = [url for url in requested if urlsplit(url).hostname not in ("localhost", "127.0.0.1")]
    assert not foreign, foreign


def test_the_maps_work_without_their_outlines_when_those_fail_to_load(asgi_server, scan, examiner, page):
    """Country outlines that fail to download (503) leave the maps working: the job map draws its clusters and says
    it is ready, the location pane its marker, and no page error is raised."""
    job = scan(examiner, extra=9)
    located = ExifData.objects.filter(image__job_images__job=job, gps_lat__isnull=False)
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused: list[str] = []

    def refuse(route) -> None:
        refused.append(route.request.url)
        route.fulfill(status=503, body="")

    page.route(re.compile(r"countries.*\.json"), refuse)
    page.goto(f"{server.url}/jobs/{job.pk}/map/")
    expect(page.get_by_test_id("job-map")).to_have_attribute("data-ready", "1")
    for _ in range(4):
        page.locator(".leaflet-control-zoom-out").click()
    expect(page.locator(".marker-cluster").first).to_be_visible()
    assert page.locator(".leaflet-basemap-pane path").count() == 0

    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    tile = page.locator(f'.tile[data-image="{located.first().image_id}"]')
    tile.scroll_into_view_if_needed()
    tile.click()
    panel = page.get_by_test_id("panel")
    panel.get_by_role("tab", name=re.compile("Location")).click()
    expect(panel.get_by_test_id("pane-location").locator(".leaflet-marker-icon")).to_be_visible()
    wait_for(lambda: len(refused) == 2, message="the pane asked for the outlines too")
    assert not errors, errors


def test_an_empty_filter_on_a_stage_that_did_not_run_says_why(asgi_server, scan, examiner, page):
    job = scan(examiner)
    job.stage_progress.filter(stage="faces").update(
        done=0, failed=0, skipped=0, reused=0, unavailable=F("total"), message="faces: model pack buffalo_l is missing"
    )
    Face.objects.filter(image__job_images__job=job).delete()
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/?faces=1")
    expect(page.get_by_test_id("sentinel")).to_have_text(
        "No image analysed matches: the faces stage was unavailable for 10 of 10 images: "
        "faces: model pack buffalo_l is missing."
    )
    expect(page.locator('label:has(input[name="faces"]) [data-testid="unavailable"]')).to_have_count(1)
    page.goto(f"{server.url}/jobs/")
    expect(page.locator(f'tr[data-job="{job.pk}"] .chip[data-stage="faces"]')).to_have_text("faces unavailable")


def reads_before(first, then) -> bool:
    """Whether `first` is drawn before `then` in left-to-right reading order: on a line above, or to its left on the
    same line (by the first box each one's text is drawn in)."""
    box = "el => { const r = [...el.getClientRects()].find((r) => r.width > 1); return [r.top, r.bottom, r.left]; }"
    (top, bottom, left), (then_top, then_bottom, then_left) = first.evaluate(box), then.evaluate(box)
    return bottom <= (then_top + then_bottom) / 2 or (top < then_bottom and then_top < bottom and left < then_left)


def test_hostile_file_names_are_shown_apart_escaped_and_isolated(asgi_server, scan, sources_root, examiner, page):
    rlo = "\u202e"
    folder = sources_root / "hostile"
    hostile = exif_bytes(make="Canon", model=f"EOS{rlo}08D")
    for seed, name in enumerate((f"invoice{rlo}gpj.exe.jpg".encode(), b"bad\xff.jpg", b"bad\\xff.jpg")):
        write_photo(folder / os.fsdecode(name), width=64, height=48, seed=seed, exif=hostile)
    cut = jpeg_bytes(64, 48, seed=7)
    (folder / f"broken{rlo}gpj.jpg").write_bytes(cut[: len(cut) // 2])
    job = scan(examiner, name="hostile")
    by_path = {i.path: i for i in FileInstance.objects.filter(job=job)}
    assert set(by_path) == {"invoice\\u202egpj.exe.jpg", "bad\\xff.jpg", "bad\\\\xff.jpg", "broken\\u202egpj.jpg"}
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)

    # The gallery: the byte \xff and the text \xff are two names, shown as two.
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/")
    tiles = page.locator(".tile")
    expect(tiles).to_have_count(3)
    assert sorted(tiles.evaluate_all("tiles => tiles.map(t => t.title)")) == sorted(
        set(by_path) - {"broken\\u202egpj.jpg"}
    )

    # The panel: the name is in an isolating element, the override shown as an escape; the app's own text after it
    # ("view · download") reads in order, on the page as drawn.
    for shown in ("invoice\\u202egpj.exe.jpg", "bad\\xff.jpg", "bad\\\\xff.jpg"):
        page.locator(f'.tile[data-image="{by_path[shown].image_id}"]').click()
        panel = page.get_by_test_id("panel")
        expect(panel.locator(".panel-title bdi")).to_have_text(shown)
        path = panel.get_by_test_id("path").locator("bdi")
        expect(path).to_have_text(shown)
        row = panel.locator("ul.paths li").first
        view, download = row.get_by_role("link", name="view"), row.get_by_role("link", name="download")
        assert reads_before(path, view)
        assert reads_before(view, download)
        expect(panel.get_by_test_id("camera").locator("bdi")).to_have_text(["Canon", "EOS\\u202e08D"])
        assert rlo not in panel.inner_text()
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()

    # The job page: the file with an error, isolated and escaped as well; its error message and link stay in order.
    page.goto(f"{server.url}/jobs/{job.pk}/")
    path = page.get_by_test_id("error-path").locator("bdi")
    expect(path).to_have_text("broken\\u202egpj.jpg")
    assert reads_before(path, page.locator("#errors tbody").get_by_role("link", name="download"))
    assert rlo not in page.locator("main").inner_text()
