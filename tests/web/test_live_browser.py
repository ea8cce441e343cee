"""Live progress in a real browser against the real web process (daphne) and real workers: the page follows a
running job without reloading, a reload in the middle shows the same state and keeps moving, and a web server
restarted in the middle of the scan loses nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.lifecycle import job_start
from jobs.models import Job, StageProgress
from jobs.services import job_create
from tests.support.cases import make_case
from tests.support.waiting import wait_for
from tests.support.web import screenshot, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PROBE_DELAY = 0.4  # seconds per image in the counting stage: batches of 8 take about 3 s each


def shown_probe_done(page) -> int:
    text = page.locator('.stage[data-stage="probe"] [data-field="counts"]').inner_text()
    return int(text.split(" done")[0])


def probe_done(job: Job) -> int:
    return StageProgress.objects.get(job=job, stage="probe").done


def test_the_progress_page_follows_a_scan_through_a_reload_and_a_web_server_restart(
    asgi_server, workers, spawn, examiner, sources_root, settings, transactional_db, page
):
    settings.SCAN_BATCH_FILES = 8
    case = sources_root / "case-live"
    expected = make_case(case, extra=50)
    job = job_create(name="Live case", source_path=case, owner=examiner, stages=["exif", "probe"], within=sources_root)
    job_start(job=job)
    # No worker takes the counting stage yet: discovery and exif finish, the job waits in "extracting".
    wait_for(
        lambda: (
            Job.objects.filter(pk=job.pk, discovery_finished=True).exists()
            and StageProgress.objects.filter(job=job, stage="exif", done=expected["distinct"]).exists()
        ),
        timeout=120,
        message="discovery and exif",
    )
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{job.pk}/")
    live = page.locator('[data-field="live"]')
    expect(live).to_have_attribute("data-state", "open")
    expect(page.locator('[data-field="files_seen"]')).to_have_text(str(expected["files"]))
    expect(page.locator('[data-field="image_types"]')).to_contain_text("image/jpeg")
    expect(page.locator('[data-field="newest_errors"]')).to_contain_text("truncated JPEG")
    assert shown_probe_done(page) == 0

    # The counting stage starts: the page moves on its own.
    spawn("probe", queues="probe", concurrency=1, env={"PROBE_DELAY": str(PROBE_DELAY)})
    wait_for(lambda: shown_probe_done(page) > 0, timeout=60, message="the page to show the stage moving")
    expect(page.locator('.stage[data-stage="probe"] [data-field="rate"]')).to_contain_text("images/s")
    # Redrawn from the event: each newest error's path isolated from the page's text, as the template renders it.
    newest = page.locator('[data-field="newest_errors"] li')
    expect(newest.locator("> span.mono > bdi")).to_have_count(newest.count())
    assert newest.count() > 0
    screenshot(page, "15-job-live-progress")

    # A reload in the middle shows what the database holds, and keeps moving.
    before = probe_done(job)
    page.reload()
    expect(live).to_have_attribute("data-state", "open")
    assert before <= shown_probe_done(page) <= probe_done(job) < expected["distinct"]
    reloaded = shown_probe_done(page)
    wait_for(lambda: shown_probe_done(page) > reloaded, timeout=60, message="progress after the reload")

    # The web server dies in the middle of the scan and comes back: the page reconnects and catches up.
    server.kill()
    expect(live).to_have_attribute("data-state", "reconnecting")
    assert probe_done(job) < expected["distinct"]
    server.start()
    expect(live).to_have_attribute("data-state", "open", timeout=60_000)
    after_restart = probe_done(job)
    wait_for(lambda: shown_probe_done(page) >= after_restart, timeout=30, message="the page to catch up")

    # The end: the page shows the summary with every count the database holds.
    expect(page.locator('#job[data-status="completed"]')).to_be_attached(timeout=120_000)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    expect(page.get_by_test_id("summary")).to_contain_text(f"{expected['files']} files seen")
    expect(page.get_by_test_id("summary")).to_contain_text(f"probe: {expected['distinct']} done")
    screenshot(page, "16-job-summary")


def test_the_jobs_list_follows_status_and_counters_live(
    asgi_server, workers, examiner, sources_root, transactional_db, page
):
    make_case(sources_root / "case-list")
    job = job_create(name="Listed", source_path=sources_root / "case-list", owner=examiner, within=sources_root)
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/")
    row = page.locator(f'tr[data-job="{job.pk}"]')
    expect(row.locator(".status")).to_have_attribute("data-status", "created")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    job_start(job=job)
    expect(row.locator(".status")).to_have_attribute("data-status", "completed", timeout=120_000)
    job.refresh_from_db()
    expect(row.locator('[data-field="files_seen"]')).to_have_text(str(job.files_seen))
    expect(row.locator('[data-field="errors"]')).to_have_text(str(job.errors))
    assert page.evaluate("window.loadedOnce === true")
