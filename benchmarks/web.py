"""Gallery page server time on a job of 50,000 images at several scroll depths, and thumbnail requests per second
made for the first time and cached.

Pages: the 50,000 rows (images, file instances, EXIF results) are bulk-created directly; no files are needed to
page through them. Each page is a full request through the Django stack (middleware, tenancy check, keyset query,
template) in this process, timed from request to response; the cursor for a depth is the key of the row just before
it, exactly as the infinite scroll sends it. Goal: < 100 ms at any depth.

Thumbnails: small real JPEGs (1600x1200, camera-like) are written and recorded; the first request for each makes its
WebP (hashing the evidence, decoding at reduced size, encoding), the second is served from the cache.

Run: `python -m benchmarks.web` (part of `make bench`). Uses its own database (BENCH_WEB_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_web), recreated on every run; writes bench-results/web.md.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import jobrows
from benchmarks.environment import results_write, web_environment
from benchmarks.jobrows import DEPTHS, IMAGES

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_WEB_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_web")
THUMBNAILS = 200
REPEATS = 7
RESULTS = REPO / "bench-results" / "web.md"

web_environment(database_url=DATABASE_URL)


def _cursor_at(job, sort: str, position: int) -> str | None:
    """The cursor the infinite scroll sends to get the page starting at `position`."""
    from gallery import cursors, selectors

    if position == 0:
        return None
    rows = selectors._first_instances(job)
    if sort == "taken":
        row = (
            selectors._exif(job).exclude(datetime_original="").order_by("datetime_original", "image_id")
            .values_list("datetime_original", "image_id")[position - 1]
        )  # fmt: skip
        return cursors.cursor_encode(["d", *row])
    key = ("path", "id") if sort == "path" else ("size", "id")
    return cursors.cursor_encode(list(rows.order_by(*key).values_list(*key)[position - 1]))


def _time_pages(client, job) -> list[tuple[str, str, float, float, int]]:
    from django.urls import reverse

    rows = []
    for sort, filters in (("path", ""), ("taken", ""), ("size", ""), ("path", "&gps=1")):
        for depth in DEPTHS:
            position = min(int(IMAGES * depth), IMAGES - 1)
            if filters:
                position //= 4  # a quarter of the images have GPS
            cursor = _cursor_at(job, sort, position) if not filters else None
            if filters and position:
                from gallery.filters import GalleryFilters
                from gallery.selectors import gallery_page

                walked = None
                while position > 0:  # reach the depth the way the browser does, page by page
                    page = gallery_page(job=job, sort=sort, filters=GalleryFilters(gps=True), cursor=walked, limit=1000)
                    walked = page.next_cursor
                    position -= 1000
                cursor = walked
            url = reverse("jobs:gallery_more", args=[job.pk]) + f"?sort={sort}{filters}"
            if cursor:
                url += f"&cursor={cursor}"
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            tiles = response.content.count(b'class="tile"')
            rows.append((sort + filters.replace("&", " "), f"{depth:.1%}", statistics.median(times), max(times), tiles))
    return rows


def _time_browsing(client, job) -> list[tuple[str, float, float, int]]:
    """First pages the other way round and by folder or file name, and levels of the folder tree: (what, median ms,
    max ms, tiles or folders)."""
    from django.urls import reverse

    more, folders = reverse("jobs:gallery_more", args=[job.pk]), reverse("jobs:gallery_folders", args=[job.pk])
    asks = [
        ("first page, size largest first", f"{more}?sort=-size"),
        ("first page, date taken newest first", f"{more}?sort=-taken"),
        ("first page, one folder of 97", f"{more}?folder=Users/suspect/Pictures/42"),
        ("first page, one folder of 97, path Z to A", f"{more}?folder=Users/suspect/Pictures/42&sort=-path"),
        ("first page, file name holds img_0012", f"{more}?name=img_0012"),
        ("folder tree, top level", f"{folders}?parent="),
        ("folder tree, the level of 97 folders", f"{folders}?parent=Users/suspect/Pictures"),
    ]
    rows = []
    for what, url in asks:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        found = len(response.json()["folders"]) if "tree" in what else response.content.count(b'class="tile"')
        rows.append((what, statistics.median(times), max(times), found))
    return rows


def _time_whole_page(client, job) -> tuple[tuple[float, float], tuple[float, float]]:
    from django.urls import reverse

    def timed(url: str) -> float:
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        return (time.perf_counter() - started) * 1000

    page = [timed(reverse("jobs:gallery", args=[job.pk])) for _ in range(REPEATS)]
    options = [timed(reverse("jobs:gallery_options", args=[job.pk])) for _ in range(2)]
    return (statistics.median(page), max(page)), (options[0], options[1])


def _time_thumbnails(client, job) -> tuple[float, float]:
    from django.urls import reverse

    from jobs.models import JobImage

    urls = [
        reverse("jobs:thumb", args=[job.pk, i])
        for i in JobImage.objects.filter(job=job).values_list("image_id", flat=True)
    ]
    rates = []
    for _ in range(2):
        started = time.perf_counter()
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, response.content[:200]
            b"".join(response.streaming_content)
        rates.append(len(urls) / (time.perf_counter() - started))
    return rates[0], rates[1]


def main() -> None:
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(username="bench", email="bench@example.org", password="x" * 20)
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)

    started = time.perf_counter()
    job = jobrows.job_rows_create(owner, images=IMAGES)
    populated = time.perf_counter() - started
    pages = _time_pages(client, job)
    browsing = _time_browsing(client, job)
    whole, options = _time_whole_page(client, job)

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        settings.THUMBNAILS_ROOT = Path(tmp) / "thumbnails"
        thumbs_job = jobrows.photo_job_create(owner, Path(tmp) / "evidence", photos=THUMBNAILS)
        first, cached = _time_thumbnails(client, thumbs_job)

    lines = [
        "# Web app benchmark",
        "",
        f"{IMAGES:,} images in one job (rows bulk-created in {populated:.0f} s), pages of {settings.GALLERY_PAGE_SIZE} "
        f"tiles, PostgreSQL on this machine, one process, the full Django request (middleware, access check, keyset "
        f"query, template). Median of {REPEATS} requests per row. Goal: < 100 ms at any depth.",
        "",
        "| sort / filter | depth | median ms | max ms | tiles |",
        "|---|---|---|---|---|",
        *[
            f"| {sort} | {depth} | {median:.1f} | {worst:.1f} | {tiles} |"
            for sort, depth, median, worst, tiles in pages
        ],
        "",
        "| browsing | median ms | max ms | tiles or folders |",
        "|---|---|---|---|",
        *[f"| {what} | {median:.1f} | {worst:.1f} | {found} |" for what, median, worst, found in browsing],
        "",
        "| whole gallery page (toolbar, first tiles) | median ms | max ms |",
        "|---|---|---|",
        f"| first tiles, filters, toolbar | {whole[0]:.1f} | {whole[1]:.1f} |",
        f"| type and camera menus (loaded when first opened), first time | {options[0]:.1f} | |",
        f"| type and camera menus, later (cached once the job has ended) | {options[1]:.1f} | |",
        "",
        f"Thumbnails ({THUMBNAILS} JPEGs of 1600x1200, every fifth turned by EXIF; WebP of at most 960x480; one "
        "process, sequential requests):",
        "",
        "| thumbnail requests | per second |",
        "|---|---|",
        f"| first time (hash the evidence, decode at reduced size, turn, encode WebP, store) | {first:.1f} |",
        f"| cached (access check, file from THUMBNAILS_ROOT) | {cached:.1f} |",
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
