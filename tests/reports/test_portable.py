"""The portable case (reports.portable): a folder another examiner opens without this system. Checked from the
outside as that examiner would: the images byte-identical to the evidence, `sha256sum -c SHA256SUMS` in a
subprocess, the exports' rows, index.html opened from file:// in chromium with nothing loaded from anywhere else,
hostile file names shown escaped. Need to know: only members make one, and only the case's own images go in, even
where another case scanned the same layout. Nothing is ever written to the evidence."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, scheme_named
from jobs.lifecycle import job_start
from jobs.models import FileInstance, Job
from jobs.samples import make_sample_tree, write_photo
from jobs.services import job_create
from reports.portable import (
    PortableFile,
    PortableRefused,
    PortableSelection,
    portable_case_write,
    portable_case_zip,
)
from review.services import bookmark_set, category_set
from tests.support.waiting import wait_for
from tests.support.web import screenshot

pytestmark = pytest.mark.integration

# A file name a suspect chose: markup, and a right-to-left override that would show "...jpg.exe" as "...exe.gpj".
HOSTILE = '<img src=x onerror="alert(1)">&\u202egpj.exe.jpg'
# A file name a spreadsheet would run as a formula.
FORMULA = '=HYPERLINK("x","open").jpg'


@pytest.fixture
def sources_root(settings) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="sources-", dir=os.environ.get("EVIDENCE_TMP")))
    root.chmod(0o755)
    settings.SOURCES_ROOT = root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def out_dir(settings) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="portable-out-"))
    settings.VAR_DIR = base / "var"
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _scan(case, owner, folder: Path) -> Job:
    job = job_create(name=folder.name, source_path=folder, owner=owner, stages=[], case=case, exhibit=folder.name)
    job_start(job=job)
    wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINAL).exists(), timeout=120, message="the scan")
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error
    return job


def _image_at(job: Job, path: str):
    return FileInstance.objects.get(job=job, path=path).image


@pytest.fixture
def lab(workers, transactional_db, sources_root):
    """Case 2024-017 (Project VIC) led by alice, carol its reviewer, dave in no case: its job found the sample tree
    and a photo with a hostile name; three images are categorised (one sensitive), one only bookmarked. Case
    2024-099, dave's, scanned the same layout (an identical copy of the tree) plus a photo of its own, all
    categorised: none of its images but those the first case found too may appear."""
    users = get_user_model().objects
    alice, carol, dave = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "carol", "dave"))
    case = case_create(reference="2024-017", title="Op. Example", owner=alice, scheme=scheme_named(name="Project VIC"))
    case_member_set(case=case, user=carol, role="reviewer")
    phone = sources_root / "phone"
    make_sample_tree(phone)
    write_photo(phone / "chat" / HOSTILE, width=40, height=30, seed=77)
    write_photo(phone / FORMULA, width=40, height=30, seed=78)
    write_photo(phone / "chat" / "evil.html", width=40, height=30, seed=79)  # a JPEG a browser would open as a page
    job = _scan(case, alice, phone)

    other = case_create(reference="2024-099", title="Other", owner=dave, scheme=scheme_named(name="Project VIC"))
    copy = sources_root / "phone-copy"
    shutil.copytree(phone, copy)
    write_photo(copy / "camera-0" / "DCIM" / "IMG_9999.jpg", width=40, height=30, seed=4242)
    other_job = _scan(other, dave, copy)
    own = _image_at(other_job, "camera-0/DCIM/IMG_9999.jpg")
    category_set(case=other, user=dave, code="4", image_ids=[i.image_id for i in other_job.files.exclude(image=None)])

    pictures = {
        "sensitive": _image_at(job, "camera-0/DCIM/IMG_1000.jpg"),  # also at copies/holiday.jpg
        "exemplar": _image_at(job, "camera-1/DCIM/IMG_1001.jpg"),
        "hostile": _image_at(job, "chat/" + HOSTILE.replace("\u202e", "\\u202e")),
        "screen": _image_at(job, "screenshots/screen.png"),
        "bookmarked": _image_at(job, "camera-2/DCIM/IMG_1002.jpg"),
        "evil": _image_at(job, "chat/evil.html"),
    }
    category_set(case=case, user=alice, code="3", image_ids=[pictures["sensitive"].pk])
    category_set(case=case, user=alice, code="4", image_ids=[pictures[n].pk for n in ("exemplar", "hostile")])
    category_set(case=case, user=alice, code="5", image_ids=[pictures["screen"].pk])
    bookmark_set(case=case, user=alice, image_ids=[pictures["bookmarked"].pk], on=True)
    return {"case": case, "job": job, "other": other, "other_job": other_job, "own": own, "pictures": pictures,
            "alice": alice, "carol": carol, "dave": dave, "phone": phone, "copy": copy}  # fmt: skip


def tree_state(root: Path) -> dict[str, tuple]:
    """Every folder under root, and the content hash, size, mtime and atime of every file (read with O_NOATIME)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        state |= {os.path.join(folder, name): ("folder",) for name in dirs}
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOATIME), "rb") as fp:
                digest = hashlib.sha256(fp.read()).hexdigest()
            state[path] = (digest, st.st_size, st.st_mtime_ns, st.st_atime_ns, st.st_mode)
    return state


def sha256sum_check(folder: Path) -> str:
    checked = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


def test_the_folder_holds_the_evidence_bytes_the_exports_and_sums_that_verify(lab, out_dir, sources_root):
    case, job, pictures = lab["case"], lab["job"], lab["pictures"]
    before = tree_state(sources_root)
    report = PortableFile("report.html", lambda out: out.write(b"<!DOCTYPE html><title>report</title>"))
    result = portable_case_write(
        case=case, user=lab["carol"], destination=out_dir / "case", extra_files=[report]
    )  # the reviewer may: it only reads
    folder = out_dir / "case"
    assert result.destination == str(folder.resolve())
    assert tree_state(sources_root) == before  # not a byte, not an access time

    # Every categorised image of the case, none of the bookmarked one (not asked for), none of the other case's.
    expected = {pictures[n].sha256 for n in ("sensitive", "exemplar", "hostile", "screen")}
    names = sorted(p.name for p in (folder / "images").iterdir())
    assert names == sorted(
        f"{digest}{'.png' if digest == pictures['screen'].sha256 else '.jpg'}" for digest in expected
    )
    assert result.images == 4
    assert not result.unavailable
    for name in names:
        data = (folder / "images" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == name.split(".")[0]
    assert (folder / "images" / f"{pictures['sensitive'].sha256}.jpg").read_bytes() == (
        lab["phone"] / "camera-0/DCIM/IMG_1000.jpg"
    ).read_bytes()

    listed = sha256sum_check(folder)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert sorted(line.rsplit(": ", 1)[0] for line in listed.splitlines()) == sorted(set(files) - {"SHA256SUMS"})
    assert "report.html" in files
    sums = (folder / "SHA256SUMS").read_bytes()
    assert hashlib.sha256(sums).hexdigest() == result.sha256sums

    # The exports: every file instance of the case's jobs, each led by its job; none of the other case's.
    with open(folder / "exports" / "files.csv", newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == FileInstance.objects.filter(job=job).count() == job.files_seen
    assert {row["job"] for row in rows} == {str(job.pk)}
    assert {row["case"] for row in rows} == {"2024-017"}
    assert lab["own"].sha256 not in (folder / "exports" / "files.csv").read_text()
    assert {row["path"] for row in rows if "HYPERLINK" in row["path"]} == {"'" + FORMULA}  # neutralised
    lines = (folder / "exports" / "files.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)
    assert FORMULA in {json.loads(line)["path"] for line in lines}  # exact
    assert all(json.loads(line)["job"] == job.pk for line in lines)
    images = [json.loads(line) for line in (folder / "exports" / "images.jsonl").read_text().splitlines()]
    holiday = next(i for i in images if i["sha256"] == pictures["sensitive"].sha256)
    paths = sorted(found["path"] for found in holiday["found_at"])
    assert paths == ["camera-0/DCIM/IMG_1000.jpg", "copies/holiday.jpg"]
    assert (holiday["category"], holiday["category_status"], holiday["file"]) == (
        "3", "set", f"images/{pictures['sensitive'].sha256}.jpg"
    )  # fmt: skip

    readme = (folder / "README.txt").read_text()
    assert "2024-017" in readme
    assert "carol@lab.example" in readme
    assert "sha256sum -c SHA256SUMS" in readme

    (event,) = AuditEvent.objects.filter(action="case.portable")
    assert (event.outcome, event.target) == ("ok", "2024-017")
    assert event.data["sha256sums"] == result.sha256sums
    assert (event.data["images"], event.data["selection"]) == (4, {"categories": [], "bookmarked": False})


def test_index_shows_hostile_names_escaped_and_refers_to_nothing_outside(lab, out_dir):
    portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "case")
    html = (out_dir / "case" / "index.html").read_text()
    assert "<img src=x" not in html
    assert 'onerror="alert' not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;\\u202egpj.exe.jpg" in html
    assert "\u202e" not in html
    assert re.search(r"<bdi[^>]*>chat/&lt;img", html)
    own = re.compile(r"images/[0-9a-f]{64}\.(jpg|png)|SHA256SUMS|README\.txt|exports/\w+\.(csv|jsonl)")
    for reference in re.findall(r'(?:src|href|action)="([^"]*)"', html):
        assert own.fullmatch(reference), reference
    (policy,) = map(unescape, re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html))
    assert "unsafe" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)", policy)
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'(;|$)", policy)
    assert {"base-uri 'none'", "form-action 'none'"} <= {part.strip() for part in policy.split(";")}
    assert "http:" not in html
    assert "https:" not in html
    assert "//" not in html.replace("://", "")
    assert "<link" not in html
    assert "@import" not in html
    assert "url(" not in html


@pytest.fixture
def chromium(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
        connections.close_all()


@pytest.mark.browser
def test_index_opened_from_disk_shows_every_image(lab, out_dir, chromium):
    portable_case_write(
        case=lab["case"], user=lab["alice"], destination=out_dir / "case", selection=PortableSelection(bookmarked=True)
    )
    page = chromium.new_page()
    requested, violations = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto((out_dir / "case" / "index.html").resolve().as_uri())
    pictures = page.locator("[data-testid=images] img")
    assert pictures.count() == 1  # the bookmarked image only
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert all(url.startswith("file://") for url in requested), requested
    assert not violations, violations

    portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "all")
    page.goto((out_dir / "all" / "index.html").resolve().as_uri())
    assert page.locator("[data-testid=images] img").count() == 4
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    screenshot(page, "portable-index")
    sensitive = page.locator(f"[data-sha256='{lab['pictures']['sensitive'].sha256}']")
    assert "veiled" in sensitive.get_attribute("class")
    sensitive.get_by_role("button", name="Reveal").click()
    assert "veiled" not in sensitive.get_attribute("class")
    path = page.locator("[data-field=path]", has_text="chat/")
    assert path.inner_text() == "chat/" + HOSTILE.replace("\u202e", "\\u202e")
    page.select_option("#filter", "5")
    assert page.locator(".item:visible").count() == 1
    assert all(url.startswith("file://") for url in requested), requested
    assert not violations, violations
    page.close()


def test_only_members_and_only_the_case_s_own_images(lab, out_dir):
    case, dave = lab["case"], lab["dave"]
    with pytest.raises(PortableRefused, match="may not see this case"):
        portable_case_write(case=case, user=dave, destination=out_dir / "dave")
    assert not (out_dir / "dave").exists()
    refused = AuditEvent.objects.get(action="case.portable", outcome="refused")
    assert (refused.target, refused.detail) == ("2024-017", "dave@lab.example may not see this case")

    # The other case holds the first case's images too (an identical copy), all categorised 4, and one of its own.
    result = portable_case_write(case=lab["other"], user=dave, destination=out_dir / "other")
    digests = {name.split(".")[0] for name in os.listdir(out_dir / "other" / "images")}
    assert lab["own"].sha256 in digests
    result = portable_case_write(
        case=case, user=lab["alice"], destination=out_dir / "mine", selection=PortableSelection(categories=("4",))
    )
    digests = {name.split(".")[0] for name in os.listdir(out_dir / "mine" / "images")}
    assert digests == {lab["pictures"]["exemplar"].sha256, lab["pictures"]["hostile"].sha256}
    assert result.images == 2
    everything = "".join(p.read_text(errors="replace") for p in (out_dir / "mine").rglob("*") if p.is_file())
    assert lab["own"].sha256 not in everything
    assert f"job {lab['other_job'].pk}" not in (out_dir / "mine" / "index.html").read_text()


def test_a_file_changed_since_the_scan_is_left_out_and_said_so(lab, out_dir):
    exemplar = lab["pictures"]["exemplar"]
    (lab["phone"] / "camera-1/DCIM/IMG_1001.jpg").write_bytes(b"changed")
    fours = PortableSelection(categories=("4",))
    result = portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "case", selection=fours)
    assert result.images == 1
    assert [digest for digest, _ in result.unavailable] == [exemplar.sha256]
    assert not list((out_dir / "case" / "images").glob(f"{exemplar.sha256}*"))
    assert not list((out_dir / "case").glob(".partial-*"))
    records = [json.loads(line) for line in (out_dir / "case" / "exports/images.jsonl").read_text().splitlines()]
    assert next(r for r in records if r["sha256"] == exemplar.sha256)["unavailable"].startswith("the evidence file")
    sha256sum_check(out_dir / "case")


def test_an_image_is_named_by_its_format_never_by_the_name_it_was_found_with(lab, out_dir):
    evil = lab["pictures"]["evil"]
    category_set(case=lab["case"], user=lab["alice"], code="2", image_ids=[evil.pk])
    twos = PortableSelection(categories=("2",))
    portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "case", selection=twos)
    assert os.listdir(out_dir / "case" / "images") == [f"{evil.sha256}.jpg"]
    (record,) = [json.loads(line) for line in (out_dir / "case" / "exports/images.jsonl").read_text().splitlines()]
    assert (record["file"], [found["path"] for found in record["found_at"]]) == (
        f"images/{evil.sha256}.jpg", ["chat/evil.html"]
    )  # fmt: skip
    assert f'src="images/{evil.sha256}.jpg"' in (out_dir / "case" / "index.html").read_text()


def test_the_folder_needs_no_links_and_its_files_have_the_mode_the_umask_gives(lab, out_dir, mocker):
    # A USB disk (FAT, exFAT) or a network share refuses hard links.
    refused = PermissionError(errno.EPERM, "Operation not permitted")
    mocker.patch.object(os, "link", autospec=True, side_effect=refused)
    result = portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "case")
    assert result.images == 4
    with open(out_dir / "probe", "xb"):
        pass
    modes = {str(p.relative_to(out_dir)): stat.S_IMODE(p.stat().st_mode) for p in out_dir.rglob("*") if p.is_file()}
    assert set(modes.values()) == {modes["probe"]}, modes
    sha256sum_check(out_dir / "case")


def test_a_full_disk_is_a_failure_on_the_record_not_blamed_on_the_evidence(lab, out_dir):
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)

    def disk_full(done: int, total: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, limit[1]))  # no file grows past 64 bytes any more

    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process
    try:
        with pytest.raises(PortableRefused, match=r"^writing .* failed: File too large; what is there is incomplete"):
            portable_case_write(case=lab["case"], user=lab["alice"], destination=out_dir / "case", progress=disk_full)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    (event,) = AuditEvent.objects.filter(action="case.portable")
    assert (event.outcome, event.target) == ("failed", "2024-017")
    assert event.detail.startswith(f"writing {(out_dir / 'case').resolve()} failed")
    assert len(os.listdir(out_dir / "case" / "images")) == 1  # the first image only; no SHA256SUMS claims more
    assert not (out_dir / "case" / "SHA256SUMS").exists()
    assert not list((out_dir / "case").glob(".partial-*"))

    with pytest.raises(CommandError, match="is not empty"):  # what is left is never taken for a portable case
        call_command("portable_case", "--case", "2024-017", "-o", str(out_dir / "case"))


def test_files_passed_in_get_plain_names_only(lab, out_dir):
    for name in ("../evil", "index.html", "images/x.jpg", "a b", "/abs", "x\n", "INDEX.HTML", "Images/x.jpg",
                 "images", "Exports", "exports/FILES.csv"):  # fmt: skip
        with pytest.raises(PortableRefused):
            portable_case_write(
                case=lab["case"], user=None, destination=out_dir / "x", extra_files=[PortableFile(name, lambda o: None)]
            )
    twins = [PortableFile("notes.txt", lambda o: None), PortableFile("NOTES.txt", lambda o: None)]  # one file on FAT
    with pytest.raises(PortableRefused, match="two files passed in have the same name"):
        portable_case_write(case=lab["case"], user=None, destination=out_dir / "x", extra_files=twins)
    buffer = io.BytesIO()
    extras = [PortableFile("exports/vics.json", lambda out: out.write(b'{"value": []}'))]
    result = portable_case_zip(case=lab["case"], user=lab["alice"], out=buffer, extra_files=extras)
    with zipfile.ZipFile(buffer) as archive:
        assert archive.read("portable-2024-017/exports/vics.json") == b'{"value": []}'
        archive.extractall(out_dir / "unzipped")
    assert result.sums["exports/vics.json"] == hashlib.sha256(b'{"value": []}').hexdigest()
    sha256sum_check(out_dir / "unzipped" / "portable-2024-017")


def test_the_command_and_its_refusals(lab, out_dir, sources_root, capsys):
    call_command("portable_case", "--case", "2024-017", "-o", str(out_dir / "cli"), "--categories", "3,5",
                 "--user", "alice")  # fmt: skip
    printed = capsys.readouterr().out.splitlines()
    sums = hashlib.sha256((out_dir / "cli" / "SHA256SUMS").read_bytes()).hexdigest()
    assert printed == [str((out_dir / "cli").resolve()), f"2 images; SHA256SUMS {sums}"]
    event = AuditEvent.objects.get(action="case.portable", outcome="ok")
    assert (event.via, event.user_id, event.data["selection"]["categories"]) == ("cli", lab["alice"].pk, ["3", "5"])
    # The interchange exports of the whole case come with it, in the sums, each on the record as an export.
    listed = sha256sum_check(out_dir / "cli")
    assert {"report.html: OK", "exports/case.jsonld: OK", "exports/vics.json: OK"} <= set(listed.splitlines())
    report = (out_dir / "cli" / "report.html").read_text()
    assert "2024-017" in report
    assert AuditEvent.objects.get(action="report.create").data["sha256"] == hashlib.sha256(report.encode()).hexdigest()
    graph = json.loads((out_dir / "cli" / "exports" / "case.jsonld").read_text())
    assert "@context" in graph
    vics = json.loads((out_dir / "cli" / "exports" / "vics.json").read_text())
    assert {medium["SHA256"].lower() for medium in vics["value"]} >= {lab["pictures"]["exemplar"].sha256}
    exports = AuditEvent.objects.filter(action="case.export", target="2024-017").order_by("id")
    assert [(e.data["format"], e.data["portable"]) for e in exports] == [("case", True), ("vics", True)]

    (out_dir / "full").mkdir()
    (out_dir / "full" / "something").write_text("x")
    refusals = {
        ("--case", "no-such", "-o", str(out_dir / "a")): "no such case: no-such",
        ("--case", "2024-017", "-o", str(out_dir / "full")): "is not empty",
        ("--case", "2024-017", "-o", str(sources_root / "phone" / "out")): "lies in the evidence",
        ("--case", "2024-017", "-o", str(sources_root / "new-folder")): "lies in the evidence",
        ("--case", "2024-017", "-o", str(out_dir / "b"), "--categories", "9"): "has no category '9'",
        ("--case", "2024-017", "-o", str(out_dir / "c"), "--user", "dave"): "may not see this case",
        ("--case", "2024-017", "-o", str(out_dir / "d"), "--user", "nobody"): "no single user",
        ("--case", "2024-017", "-o", str(out_dir / "e\x00")): "a folder name has no NUL byte",
    }
    for args, said in refusals.items():
        with pytest.raises(CommandError, match=re.escape(said)):
            call_command("portable_case", *args)
    assert not (sources_root / "phone" / "out").exists()
    assert not (sources_root / "new-folder").exists()
    assert not any((out_dir / name).exists() for name in "abcd")

    # A job's source outside SOURCES_ROOT (the command line may scan any folder) is evidence too.
    Job.objects.filter(pk=lab["job"].pk).update(source_path=str(out_dir / "evidence"))
    with pytest.raises(CommandError, match="lies in the evidence"):
        call_command("portable_case", "--case", "2024-017", "-o", str(out_dir / "evidence" / "inside"))
    assert not (out_dir / "evidence").exists()


def test_the_case_page_downloads_it_as_a_zip(lab, out_dir):
    url = reverse("casework:portable", args=[lab["case"].pk])
    carol = Client(enforce_csrf_checks=True)
    carol.force_login(lab["carol"])
    page = carol.get(reverse("casework:detail", args=[lab["case"].pk]))
    assert 'data-testid="portable-form"' in page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    assert carol.post(url, {"categories": ["4"]}).status_code == 403  # no CSRF token
    assert carol.get(url).status_code == 405
    assert carol.post(url, {"categories": ["9"], "csrfmiddlewaretoken": token}).status_code == 400
    response = carol.post(url, {"categories": ["3"], "bookmarked": "on", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="portable-2024-017.zip"'
    data = b"".join(response.streaming_content)
    response.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(out_dir / "web")
    folder = out_dir / "web" / "portable-2024-017"
    digests = {name.split(".")[0] for name in os.listdir(folder / "images")}
    assert digests == {lab["pictures"]["sensitive"].sha256, lab["pictures"]["bookmarked"].sha256}
    sha256sum_check(folder)
    event = AuditEvent.objects.get(action="case.portable", outcome="ok")
    assert (event.via, event.user_id, event.data["destination"]) == ("web", lab["carol"].pk, "download")
    assert not os.listdir(Path(out_dir / "var" / "portable"))  # the zip was a temporary file, gone once sent

    dave = Client()
    dave.force_login(lab["dave"])
    assert dave.post(url, {}).status_code == 404
    assert dave.post(f"/cases/{lab['case'].pk}x/portable", {}).status_code == 404
    assert dave.post("/cases/99999999999999999999/portable", {}).status_code == 404
    assert AuditEvent.objects.filter(action="case.portable", outcome="refused").count() == 3
