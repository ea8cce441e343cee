"""The web server under several examiners at once: its PostgreSQL connections stay within its pool, and no request
fails for want of one (a thumbnail that fails shows as "no preview", which looks like damaged evidence)."""

from __future__ import annotations

import re
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import psycopg
import pytest
from django.conf import settings

from jobs.samples import exif_bytes, write_photo
from jobs.services import job_share
from tests.support.web import session_key

EXAMINERS = 10
# Requests one examiner's browser has in flight at once (browsers open up to six connections per host).
IN_FLIGHT = 4
PHOTOS = 100
PAGE_SIZE = 20
POOL_MAX = 4
APPLICATION = "scanner-web-load-test"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class ConnectionCount:
    """Samples, on a thread of its own, how many connections the web server holds to the test database
    (pg_stat_activity, told apart by their application_name) and keeps the highest count seen."""

    def __init__(self) -> None:
        db = settings.DATABASES["default"]
        self.conninfo = psycopg.conninfo.make_conninfo(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], password=db["PASSWORD"] or None
        )
        self.highest = 0
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.done.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = %s",
                    [APPLICATION],
                ).fetchone()
                self.highest = max(self.highest, count)
                self.samples += 1
                self.done.wait(0.02)

    def __enter__(self) -> ConnectionCount:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.done.set()
        self.thread.join(timeout=10)


def _get(url: str, cookie: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310 - the local test server
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local test server
        return response.status, response.read()


def _scroll(server, job, cookie: str) -> tuple[list[int], int]:
    """What one examiner's browser does: the gallery, each further page of tiles as the scroll reaches it, and every
    tile's thumbnail, IN_FLIGHT at a time. Returns the thumbnails' statuses and how many pages there were."""
    statuses: list[int] = []
    pages = 0
    url = f"{server.url}/jobs/{job.pk}/gallery/"
    with ThreadPoolExecutor(IN_FLIGHT) as browser:
        while url:
            status, body = _get(url, cookie)
            assert status == 200, url
            pages += 1
            html = body.decode()
            thumbs = re.findall(r'<img src="(/jobs/\d+/images/\d+/thumb)"', html)
            statuses += [s for s, _ in browser.map(lambda path: _get(server.url + path, cookie), thumbs)]
            more = re.search(r'data-next="([^"]+)"', html)
            url = server.url + unescape(more.group(1)) if more else None
    return statuses, pages


def test_examiners_scrolling_galleries_at_once_stay_within_the_pool_and_every_thumbnail_loads(
    scan, asgi_server, sources_root, make_user, worker_env
):
    folder = sources_root / "gallery"
    for i in range(PHOTOS):
        exif = exif_bytes(make="Canon", model="EOS 5D", taken=f"2023:0{i % 9 + 1}:1{i % 10} 09:00:00")
        write_photo(folder / f"IMG_{i:04d}.jpg", width=96 + (i % 4) * 16, height=64, seed=5000 + i, exif=exif)
    examiners = [make_user(f"examiner{n}@example.org") for n in range(EXAMINERS)]
    job = scan(examiners[0], name="gallery")
    assert job.images == PHOTOS
    for examiner in examiners[1:]:
        job_share(job=job, user=examiner, role="reviewer")
    cookies = [f"{settings.SESSION_COOKIE_NAME}={session_key(examiner)}" for examiner in examiners]
    server = asgi_server(
        DATABASE_URL=f"{worker_env['DATABASE_URL']}?application_name={APPLICATION}",
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX),
        GALLERY_PAGE_SIZE=str(PAGE_SIZE),
    )

    with ConnectionCount() as connections, ThreadPoolExecutor(EXAMINERS) as examining:
        scrolled = list(examining.map(lambda cookie: _scroll(server, job, cookie), cookies))

    for statuses, pages in scrolled:
        assert pages == PHOTOS // PAGE_SIZE + (PHOTOS % PAGE_SIZE > 0)
        assert statuses == [200] * PHOTOS
    assert connections.samples > 10
    assert 1 <= connections.highest <= POOL_MAX, f"{connections.highest} connections, the pool holds {POOL_MAX}"
