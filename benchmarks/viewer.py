"""The review viewer's next picture: from the arrow key to the picture drawn, in Debian's chromium against the web
server as `make up` runs it (daphne), on a job of real photos. The viewer loads the next three previews ahead while
the examiner looks at one; the baseline is the same step for a preview the browser does not hold yet (the web
server has made it before: only its request and its decoding count). Goal: < 100 ms with preloading.

Run: `python -m benchmarks.viewer` (part of `make bench`). Uses its own database (BENCH_VIEWER_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_viewer), recreated on every run; writes bench-results/viewer.md.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks import jobrows
from benchmarks.environment import results_write, web_environment

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_VIEWER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_viewer")
PHOTOS = 60
STEPS = 40
RESULTS = REPO / "bench-results" / "viewer.md"

web_environment(database_url=DATABASE_URL)

# From the key to the picture decoded, in the page: what the examiner waits for.
STEP = """(key) => new Promise((done) => {
    const picture = document.getElementById("viewer-image");
    const start = performance.now();
    window.dispatchEvent(new KeyboardEvent("keydown", { key }));
    const drawn = () => picture.decode().then(() => done(performance.now() - start));
    if (picture.complete) drawn(); else picture.addEventListener("load", drawn, { once: true });
})"""
# Whether the browser has loaded the preview of an image.
LOADED = "id => performance.getEntriesByType('resource').some(e => e.name.endsWith(`/images/${id}/preview`))"
# A preview the browser does not hold: fetched (bypassing its cache) and decoded.
COLD = """(url) => {
    const start = performance.now();
    const picture = new Image();
    picture.src = url + "?cold=" + Math.random();
    return picture.decode().then(() => performance.now() - start);
}"""


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "scanner.asgi:application"],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/accounts/login/", timeout=2).close()  # noqa: S310 - local server
            return process, url
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text(errors="replace")) from None
            time.sleep(0.1)


def main() -> None:
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from playwright.sync_api import sync_playwright

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(username="bench", email="bench@example.org", password="x" * 20)
    client = Client()
    client.force_login(owner)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        root = Path(tmp) / "sources"
        job = jobrows.photo_job_create(owner, root / "phone", photos=PHOTOS)
        env = {**os.environ, "DATABASE_POOL": "true", "SOURCES_ROOT": str(root),
               "THUMBNAILS_ROOT": str(Path(tmp) / "thumbnails")}  # fmt: skip
        server, url = _serve(env, Path(tmp) / "daphne.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": url}])
                page = context.new_page()
                page.goto(f"{url}/jobs/{job.pk}/gallery/")
                page.locator("#grid .tile").first.click()
                page.keyboard.press("Enter")
                page.get_by_test_id("viewer").wait_for()
                ids = page.eval_on_selector_all("#grid .tile", "tiles => tiles.map(t => t.dataset.image)")
                warm, cold = [], []
                for step in range(1, min(STEPS, len(ids) - 1) + 1):
                    # The examiner looks at the picture while the next ones load: the step starts once they are in.
                    page.wait_for_function(LOADED, arg=ids[step])
                    warm.append(page.evaluate(STEP, "ArrowRight"))
                    cold.append(page.evaluate(COLD, f"{url}/jobs/{job.pk}/images/{ids[step]}/preview"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)

    lines = [
        "# Review viewer benchmark",
        "",
        f"A job of {PHOTOS} real JPEGs (1600x1200), previews of at most 1600 px served as WebP by daphne on this "
        f"machine, Debian's chromium (headless) on the same machine. {len(warm)} steps with the arrow key. Goal: "
        "< 100 ms from the key to the picture drawn.",
        "",
        "| next picture | median ms | max ms |",
        "|---|---|---|",
        f"| loaded ahead by the viewer (the next three) | {statistics.median(warm):.1f} | {max(warm):.1f} |",
        f"| not held by the browser: request and decode (baseline) | {statistics.median(cold):.1f} | {max(cold):.1f} |",
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
