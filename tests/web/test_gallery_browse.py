"""Browsing a job's gallery by folder: the folder tree and its counts, the folder and file name filters (hostile
names shown escaped and matched exactly), and every sort both ways, page by page."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEvent
from content.models import ExifData
from gallery.cursors import CursorError
from gallery.filters import FilterError, GalleryFilters
from gallery.folders import folder_level
from gallery.selectors import SORT_ORDERS, gallery_count, gallery_page
from jobs.models import FileInstance, JobImage
from jobs.samples import write_photo
from tests.support.cases import make_case
from tests.support.web import sign_in_browser

pytestmark = pytest.mark.integration

RLO = "\u202e"
# Folders and files added to the sample tree (jobs.samples.make_sample_tree), relative to the source; each a photo of
# its own. The % and _ of LIKE in folder and file names, a bidi override, markup, a backslash and other scripts.
ADDED = (
    "top.jpg",
    "camera-0/DCIM/2023/deeper.jpg",
    "odd/100%_off/a.jpg",
    "odd/100%xoff/b.jpg",
    "odd/100ab_off/c.jpg",
    f"odd/{RLO}gpj.exe/d.jpg",
    "odd/<script>alert(1)<\\script>/e.jpg",
    "odd/café ﬁ 日本 ✓/f.jpg",
    "odd/names/50%.jpg",
    "odd/names/50x.jpg",
    "odd/names/a_b.JPG",
    "odd/names/axb.jpg",
)
SHOWN_RLO = "odd/\\u202egpj.exe"  # the folder with the override, as stored and shown
SHOWN_SCRIPT = "odd/<script>alert(1)<\\\\script>"


def make_tree(root: Path) -> None:
    make_case(root)
    for seed, relative in enumerate(ADDED, start=500):
        write_photo(root / relative, width=40 + seed % 7, height=30, seed=seed)


@pytest.fixture
def job(scan, examiner, sources_root):
    make_tree(sources_root / "tree")
    return scan(examiner, name="tree")


def reference(job) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Distinct images in each folder and below it, and in each folder itself, from the paths as stored."""
    below, here = defaultdict(set), defaultdict(set)
    for path, image_id in FileInstance.objects.filter(job=job, status="image").values_list("path", "image_id"):
        parts = path.split("/")[:-1]
        here["/".join(parts)].add(image_id)
        for depth in range(len(parts) + 1):
            below["/".join(parts[:depth])].add(image_id)
    return below, here


def walk(job, *, sort: str = "path", filters: GalleryFilters | None = None, limit: int = 3) -> list:
    items, cursor = [], None
    while True:
        page = gallery_page(job=job, sort=sort, filters=filters, cursor=cursor, limit=limit)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def test_the_folder_tree_counts_the_distinct_images_in_each_folder_and_below(job, examiner, client_for):
    below, here = reference(job)
    alice = client_for(examiner)
    url = reverse("jobs:gallery_folders", args=[job.pk])
    seen: dict[str, int] = {}
    pending = [""]
    while pending:
        parent = pending.pop()
        level = alice.get(url, {"parent": parent}).json()
        assert level["images_here"] == len(here.get(parent, ())), parent
        assert level["next_after"] is None
        names = [f["name"] for f in level["folders"]]
        assert names == sorted(names), parent
        for folder in level["folders"]:
            assert folder["path"] == f"{parent}/{folder['name']}".lstrip("/")
            seen[folder["path"]] = folder["images"]
            assert folder["subfolders"] == any(p.startswith(folder["path"] + "/") for p in below), folder
            if folder["subfolders"]:
                pending.append(folder["path"])
    assert seen == {folder: len(ids) for folder, ids in below.items() if folder}
    # Known counts: the copy of IMG_1000 counts in camera-0 and in copies; the damaged folder holds no image.
    assert seen["camera-0"] == 4
    assert seen["camera-0/DCIM"] == 4
    assert seen["copies"] == 1
    assert "damaged" not in seen
    assert seen["odd"] == 10
    assert seen[SHOWN_RLO] == seen[SHOWN_SCRIPT] == seen["odd/100%_off"] == 1
    assert alice.get(url, {"parent": "camera-0/DCIM"}).json()["images_here"] == 3
    # A level a page at a time.
    pages, after = [], ""
    while True:
        level = folder_level(job=job, parent="odd", after=after, limit=2)
        pages.append([f.name for f in level.folders])
        if level.next_after is None:
            break
        after = level.next_after
    assert [name for page in pages for name in page] == sorted(p[4:] for p in below if p.startswith("odd/"))
    assert [len(p) for p in pages] == [2, 2, 2, 1]


def test_the_folder_filter_selects_the_folder_with_or_without_its_subfolders(job, examiner, client_for):
    below, here = reference(job)
    for folder in below:
        for sort in ("path", "-size", "taken"):
            found = [i.image_id for i in walk(job, sort=sort, filters=GalleryFilters(folder=folder))]
            assert sorted(found) == sorted(below[folder]), (folder, sort)
            direct = GalleryFilters(folder=folder, subfolders=False)
            found = [i.image_id for i in walk(job, sort=sort, filters=direct)]
            assert sorted(found) == sorted(here.get(folder, ())), (folder, sort)
        assert gallery_count(job=job, filters=GalleryFilters(folder=folder)) == len(below[folder])
    # An image found in two folders shows at its first path in the folder chosen.
    copy = FileInstance.objects.get(job=job, path="copies/holiday.jpg")
    assert [i.path for i in walk(job, filters=GalleryFilters(folder="copies"))] == ["copies/holiday.jpg"]
    assert [i.path for i in walk(job) if i.image_id == copy.image_id] == ["camera-0/DCIM/IMG_1000.jpg"]
    # The top of the source alone.
    assert [i.path for i in walk(job, filters=GalleryFilters(subfolders=False))] == ["top.jpg"]
    # A folder is a whole name: "camera" is no folder, and the % and _ in a name match only themselves.
    assert walk(job, filters=GalleryFilters(folder="camera")) == []
    assert walk(job, filters=GalleryFilters(folder="Camera-0")) == []  # letter case counts in a folder's name
    assert [i.path for i in walk(job, filters=GalleryFilters(folder="odd/100%_off"))] == ["odd/100%_off/a.jpg"]
    assert [i.path for i in walk(job, filters=GalleryFilters(folder="odd/100_"))] == []

    # Over HTTP: hostile folder names are filtered exactly and shown escaped, in the tiles and in the tree.
    alice = client_for(examiner)
    gallery = reverse("jobs:gallery", args=[job.pk])
    for folder, name in ((SHOWN_RLO, "d.jpg"), (SHOWN_SCRIPT, "e.jpg"), ("odd/café ﬁ 日本 ✓", "f.jpg")):
        html = alice.get(gallery, {"folder": folder}).text
        assert re.findall(r'title="([^"]+)"><img', html) == [_html(f"{folder}/{name}")], folder
        assert RLO not in html
        assert "<script>alert" not in html
    tree = alice.get(reverse("jobs:gallery_folders", args=[job.pk]), {"parent": "odd"})
    names = [f["name"] for f in json.loads(tree.content)["folders"]]
    assert "\\u202egpj.exe" in names
    assert "<script>alert(1)<\\\\script>" in names
    assert RLO.encode() not in tree.content
    html = alice.get(gallery, {"folder": "odd/", "direct": "1", "sort": "-path"}).text  # a trailing / is no matter
    assert re.findall(r'title="([^"]+)"><img', html) == []
    html = alice.get(gallery, {"folder": "odd/names", "sort": "-path"}).text
    assert re.findall(r'title="([^"]+)"><img', html) == [
        "odd/names/axb.jpg", "odd/names/a_b.JPG", "odd/names/50x.jpg", "odd/names/50%.jpg",
    ]  # fmt: skip


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_the_file_name_filter_matches_part_of_a_name_in_any_case(job, examiner, client_for):
    def names(**filters) -> list[str]:
        return [i.path for i in walk(job, filters=GalleryFilters(**filters))]

    assert names(name="img_100") == [f"camera-{i % 3}/DCIM/IMG_{1000 + i}.jpg" for i in (0, 3, 6, 1, 4, 7, 2, 5, 8)]
    # Of an image's paths, the one whose name matches: the copy of IMG_1000 shows at its own path.
    assert names(name="HOLIDAY") == ["copies/holiday.jpg"]
    assert names(name="50%") == ["odd/names/50%.jpg"]
    assert names(name="a_b") == ["odd/names/a_b.JPG"]
    assert names(name="dcim") == []  # a folder's name is not the file's
    assert names(name="jpg", folder="odd/names", subfolders=False) == [
        "odd/names/50%.jpg", "odd/names/50x.jpg", "odd/names/a_b.JPG", "odd/names/axb.jpg",
    ]  # fmt: skip
    assert names(name="e.jpg", folder="odd") == ["odd/<script>alert(1)<\\\\script>/e.jpg"]
    assert gallery_count(job=job, filters=GalleryFilters(name=".JPG")) == job.distinct_images - 1  # not the PNG
    with pytest.raises(FilterError):
        GalleryFilters(name="DCIM/IMG")
    with pytest.raises(FilterError):
        GalleryFilters(folder="odd\x00")

    alice = client_for(examiner)
    gallery = reverse("jobs:gallery", args=[job.pk])
    html = alice.get(gallery, {"name": "holiday"}).text
    assert re.findall(r'title="([^"]+)"><img', html) == ["copies/holiday.jpg"]
    assert 'data-testid="count">1 of' in html
    refused = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED, job_id=job.pk)
    assert alice.get(gallery, {"name": "a/b"}).status_code == 400
    assert alice.get(f"{gallery}?folder=odd%00").status_code == 400
    assert alice.get(f"{reverse('jobs:gallery_folders', args=[job.pk])}?parent=odd%00").status_code == 400
    assert alice.get(f"{reverse('jobs:gallery_folders', args=[job.pk])}?after=%00").status_code == 400
    assert refused.count() == 4


def test_every_sort_runs_both_ways_page_by_page(job, examiner, client_for, settings):
    expected = set(JobImage.objects.filter(job=job).values_list("image_id", flat=True))
    assert len(expected) == 22
    orders = {}
    for sort in SORT_ORDERS:
        for limit in (1, 3, 22):
            items = walk(job, sort=sort, limit=limit)
            ids = [i.image_id for i in items]
            assert len(ids) == len(set(ids)) == 22, (sort, limit)
            assert set(ids) == expected, (sort, limit)
            orders[sort] = items
    paths = [i.path for i in orders["path"]]
    assert paths == sorted(paths)
    assert [i.path for i in orders["-path"]] == paths[::-1]
    sizes = [i.size for i in orders["size"]]
    assert sizes == sorted(sizes)
    assert [i.size for i in orders["-size"]] == sorted(sizes, reverse=True)
    # Date taken: by date either way, the images without a date last either way.
    dates = dict(
        ExifData.objects.filter(image_id__in=expected)
        .exclude(datetime_original="")
        .values_list("image_id", "datetime_original")
    )
    assert 0 < len(dates) < 22
    for sort, newest_first in (("taken", False), ("-taken", True)):
        order = [i.image_id for i in orders[sort]]
        dated, undated = order[: len(dates)], order[len(dates) :]
        assert set(dated) == set(dates), sort
        assert [dates[i] for i in dated] == sorted(dates.values(), reverse=newest_first), sort
        assert undated == sorted(undated, reverse=newest_first), sort
    # With a filter too.
    odd = {i.image_id for i in walk(job, filters=GalleryFilters(folder="odd"))}
    for sort in SORT_ORDERS:
        assert [i.image_id for i in walk(job, sort=sort, filters=GalleryFilters(folder="odd"), limit=4)] == [
            i.image_id for i in orders[sort] if i.image_id in odd
        ], sort

    # A cursor serves its own sort and direction only: any other is refused, with a 400 over HTTP.
    for sort in SORT_ORDERS:
        cursor = gallery_page(job=job, sort=sort, limit=2).next_cursor
        for other in SORT_ORDERS:
            if other != sort:
                with pytest.raises(CursorError):
                    gallery_page(job=job, sort=other, cursor=cursor, limit=2)
    settings.GALLERY_PAGE_SIZE = 5
    alice = client_for(examiner)
    for sort in ("size", "-size", "taken", "-path"):
        html = alice.get(reverse("jobs:gallery", args=[job.pk]), {"sort": sort}).text
        assert f'<option value="{sort}" selected>' in html
        seen = re.findall(r'data-image="(\d+)"', html)
        while match := re.search(r'data-next="([^"]+)"', html):
            html = alice.get(match.group(1).replace("&amp;", "&")).text
            seen += re.findall(r'data-image="(\d+)"', html)
        assert [int(i) for i in seen] == [i.image_id for i in orders[sort]], sort
    cursor = gallery_page(job=job, sort="size", limit=5).next_cursor
    more = reverse("jobs:gallery_more", args=[job.pk])
    assert alice.get(f"{more}?{urlencode({'sort': '-size', 'cursor': cursor})}").status_code == 400
    assert alice.get(f"{more}?{urlencode({'sort': 'size', 'cursor': cursor})}").status_code == 200


@pytest.mark.browser
def test_a_click_on_a_folder_in_the_tree_shows_that_folder(asgi_server, job, examiner, page):
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/jobs/{job.pk}/gallery/?sort=-size")
    tree = page.get_by_test_id("folders")
    expect(tree).to_have_attribute("data-ready", "1")
    expect(page.locator(".tile")).to_have_count(job.distinct_images)
    odd = tree.locator("li[data-path='odd']")
    expect(odd.locator(":scope > .folder-row .count")).to_have_text("10")
    odd.locator(":scope > .folder-row button.twisty").click()
    hostile = odd.locator("li[data-path='odd/\\\\u202egpj.exe'] > .folder-row a")
    expect(hostile.locator("bdi")).to_have_text("\\u202egpj.exe")
    odd.locator(":scope > .folder-row a").click()
    expect(page).to_have_url(re.compile(r"[?&]folder=odd(&|$)"))
    expect(page.locator(".tile")).to_have_count(10)
    assert "sort=-size" in page.url  # the sort is kept
    # The tree opens down to the folder shown, and marks it.
    expect(page.get_by_test_id("folders")).to_have_attribute("data-ready", "1")
    expect(page.locator(".folder-row.chosen a")).to_have_text("odd")
    page.locator("li[data-path='odd/names'] > .folder-row a").click()
    expect(page.locator(".tile")).to_have_count(4)
    expect(page.get_by_test_id("folder")).to_have_value("odd/names")
    page.get_by_test_id("folder-root").click()
    expect(page.locator(".tile")).to_have_count(job.distinct_images)
