"""Serving evidence: path traversal refused everywhere, thumbnails made once and orientation-corrected, originals
exactly as found, and the evidence never changed by any of it."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from jobs.models import FileInstance, Job, JobImage
from jobs.services import SourceError, job_create
from tests.support.cases import make_case
from tests.support.sources import sources_assigned

pytestmark = pytest.mark.integration


def tree_state(root: Path) -> dict[str, tuple]:
    """Content hash, size, mtime and atime of every file under root (atime too: opens must use O_NOATIME)."""
    state = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY | os.O_NOATIME)  # this check must not touch atime itself
                with os.fdopen(fd, "rb") as fp:
                    digest = hashlib.sha256(fp.read()).hexdigest()
            state[path] = (digest, st.st_size, st.st_mtime_ns, st.st_atime_ns, st.st_mode)
    return state


def test_a_job_source_cannot_leave_the_sources_root(examiner, client_for, sources_root, tmp_path):
    make_case(sources_root / "case")
    outside = tmp_path / "outside"
    outside.mkdir()
    (sources_root / "escape").symlink_to(outside)  # a link in the root pointing out of it
    (sources_root / "case" / "up").symlink_to(outside)
    sources_assigned(examiner, "case", "escape")
    alice = client_for(examiner)

    form = alice.get(reverse("jobs:new")).text
    assert 'value="case"' in form
    assert 'value="escape"' not in form
    for source in ["escape", "../outside", str(outside), "case/../..", "/etc", "case/up", "..", ""]:
        response = alice.post(reverse("jobs:new"), {"name": "x", "source": source, "stages": ["exif"]})
        assert response.status_code == 200, source  # the form again, with an error
        assert "errorlist" in response.text, source
    assert not Job.objects.exists()
    # The service refuses too, whoever calls it.
    for source in [sources_root / "escape", sources_root / "case" / "up", sources_root / "..", outside]:
        with pytest.raises(SourceError):
            job_create(name="x", source_path=source, within=sources_root)
    assert alice.post(reverse("jobs:new"), {"source": "case", "stages": ["exif"]}).status_code == 302
    assert Job.objects.get().source_path == str((sources_root / "case").resolve())


def test_file_routes_take_ids_only(scan, examiner, client_for):
    job = scan(examiner)
    alice = client_for(examiner)
    base = f"/jobs/{job.pk}"
    for url in [
        f"{base}/files/../../../../etc/passwd/original",
        f"{base}/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd/original",
        f"{base}/files/..%2F..%2Fetc%2Fpasswd/original",
        f"{base}/images/..%2f..%2fetc%2fpasswd/thumb",
        f"{base}/images/1%2f..%2f..%2fsecret/preview",
        f"{base}/files/-1/original",
        f"{base}/files/1.0/original",
        "/jobs/..%2f1/gallery/",
        "/static/..%2f..%2fscanner%2fsettings%2fbase.py",
        "/static/../manage.py",
    ]:
        response = alice.get(url)
        assert response.status_code == 404, url
        assert b"DJANGO_SECRET_KEY" not in response.content
        assert b"root:" not in response.content


def test_an_original_swapped_for_a_link_out_of_the_source_is_refused(
    scan, examiner, client_for, sources_root, tmp_path
):
    job = scan(examiner)
    alice = client_for(examiner)
    secret = tmp_path / "secret.txt"
    secret.write_text("not evidence")
    photo = FileInstance.objects.get(job=job, path="camera-0/DCIM/IMG_1000.jpg")
    copy = FileInstance.objects.get(job=job, path="copies/holiday.jpg")
    url = reverse("jobs:original", args=[job.pk, photo.pk])
    assert alice.get(url).status_code == 200

    target = sources_root / "case" / photo.path
    target.unlink()
    target.symlink_to(secret)  # the file itself replaced by a link
    response = alice.get(url)
    assert response.status_code == 404
    assert b"not evidence" not in response.content

    folder = sources_root / "case" / "copies"
    (sources_root / "case" / "copies-moved").mkdir()
    os.rename(folder / "holiday.jpg", sources_root / "case" / "copies-moved" / "holiday.jpg")
    folder.rmdir()
    os.symlink(tmp_path, folder)  # a folder on the path replaced by a link out of the source
    (tmp_path / "holiday.jpg").write_bytes((sources_root / "case" / "copies-moved" / "holiday.jpg").read_bytes())
    response = alice.get(reverse("jobs:original", args=[job.pk, copy.pk]))
    assert response.status_code == 404
    assert "leads out of the job's source" in response.text


def test_originals_are_the_exact_evidence_bytes_and_never_cached(scan, examiner, client_for, sources_root):
    job = scan(examiner)
    alice = client_for(examiner)
    photo = FileInstance.objects.get(job=job, path="camera-1/DCIM/IMG_1001.jpg")
    before = tree_state(sources_root)

    viewed = alice.get(reverse("jobs:original", args=[job.pk, photo.pk]))
    body = b"".join(viewed.streaming_content)
    assert hashlib.sha256(body).hexdigest() == photo.sha256
    assert viewed["Content-Type"] == "image/jpeg"
    assert viewed["Content-Disposition"].startswith("inline")
    assert "no-store" in viewed["Cache-Control"]
    assert "sandbox" in viewed["Content-Security-Policy"]
    assert viewed["X-Content-Type-Options"] == "nosniff"
    downloaded = alice.get(reverse("jobs:original", args=[job.pk, photo.pk]) + "?download=1")
    assert downloaded["Content-Disposition"] == 'attachment; filename="IMG_1001.jpg"'
    assert b"".join(downloaded.streaming_content) == body
    # A file that is not an image is only ever downloaded, as bytes.
    notes = FileInstance.objects.get(job=job, path="notes.txt")
    response = alice.get(reverse("jobs:original", args=[job.pk, notes.pk]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert tree_state(sources_root) == before


def test_thumbnails_are_made_once_orientation_corrected_and_cached_outside_the_evidence(
    scan, examiner, client_for, sources_root, thumbnails_root
):
    job = scan(examiner)
    alice = client_for(examiner)
    before = tree_state(sources_root)
    turned = FileInstance.objects.get(job=job, path="camera-1/DCIM/IMG_1004.jpg").image  # orientation 6
    assert (turned.orientation, turned.raw_width, turned.raw_height) == (6, 640, 480)
    url = reverse("jobs:thumb", args=[job.pk, turned.pk])

    first = alice.get(url)
    assert first.status_code == 200
    assert first["Content-Type"] == "image/webp"
    assert "private" in first["Cache-Control"]
    assert "max-age=31536000" in first["Cache-Control"]
    thumb = PILImage.open(io.BytesIO(b"".join(first.streaming_content)))
    assert thumb.format == "WEBP"
    assert thumb.height > thumb.width  # turned upright, as the camera meant it
    made = list(thumbnails_root.rglob("*.webp"))
    assert len(made) == 1
    assert made[0].name.startswith(turned.sha256)
    stat = made[0].stat()

    # Cached: served again without the evidence (even once the evidence is gone), and not made again.
    (sources_root / "case" / "camera-1/DCIM/IMG_1004.jpg").rename(sources_root / "moved.jpg")
    again = alice.get(url)
    assert again.status_code == 200
    assert made[0].stat().st_mtime_ns == stat.st_mtime_ns
    assert alice.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    (sources_root / "moved.jpg").rename(sources_root / "case" / "camera-1/DCIM/IMG_1004.jpg")
    assert tree_state(sources_root) == before
    preview = alice.get(reverse("jobs:preview", args=[job.pk, turned.pk]))
    assert PILImage.open(io.BytesIO(b"".join(preview.streaming_content))).size == (480, 640)


def test_evidence_changed_since_the_scan_gets_no_picture(scan, examiner, client_for, sources_root, thumbnails_root):
    job = scan(examiner)
    alice = client_for(examiner)
    instance = FileInstance.objects.get(job=job, path="screenshots/screen.png")
    path = sources_root / "case" / instance.path
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # same size, same inode, other content
    path.write_bytes(bytes(data))
    response = alice.get(reverse("jobs:thumb", args=[job.pk, instance.image_id]))
    assert response.status_code == 404
    assert "SHA-256 differs" in response.text
    assert not list(thumbnails_root.rglob("*.webp"))
    assert JobImage.objects.filter(job=job, image_id=instance.image_id).exists()
