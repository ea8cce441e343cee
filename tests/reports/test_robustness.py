"""A report survives what one file can do and holds what it should at scale: a hash-set hit on a file that is no
image, a file whose read fails (EIO), thumbnails capped per category with the counts complete, veils per case (as
the gallery's) in a job's report, a person's face only from the report's scope, and the audit summary of the scope
alone."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.utils import timezone

from cases.services import case_create, case_delete
from content.models import Face, Image
from hashsets.models import HashEntry, HashSet
from jobs.models import FileInstance, HashMatch, JobImage
from jobs.services import job_create
from persons.models import FaceAssignment, Person
from reports import build
from reports.selectors import audit_summary, scope_of
from reports.services import report_scope_for, report_write
from review.services import category_set

pytestmark = pytest.mark.django_db


def _html(scope, tmp_path: Path, sections: tuple[str, ...]) -> str:
    target = tmp_path / "report.html"
    report_write(scope=scope, sections=sections, fmt="html", reveal=False, requester="lead", target=target)
    return target.read_text()


def _instance(job, name: str, data: bytes, *, status: str, image=None, inode: int | None = None) -> FileInstance:
    return FileInstance.objects.create(
        job=job, path=name, path_digest=hashlib.sha256(name.encode()).hexdigest(), kind="file", size=len(data),
        inode=inode, mtime=timezone.now(), status=status, mime="image/jpeg" if image else "text/plain",
        sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(), image=image,
    )  # fmt: skip


def test_a_hash_set_hit_on_a_file_that_is_no_image_is_listed_without_a_thumbnail(reported, team, tmp_path):
    data = b"not a picture at all\n"
    (reported.root / "notes.txt").write_bytes(data)
    instance = _instance(reported.job, "notes.txt", data, status=FileInstance.Status.SKIPPED)
    known = HashSet.objects.create(name="MD5 list", kind=HashSet.Kind.KNOWN_BAD, status="ready")
    HashMatch.objects.create(
        file_instance=instance, job=reported.job, hash_set=known, algorithm=HashEntry.Algorithm.MD5,
        matched_at=timezone.now(),
    )  # fmt: skip
    html = _html(report_scope_for(user=team["lead"], reference="2024-017"), tmp_path, ("hashsets",))
    assert "MD5 list" in html
    assert "not an image" in html
    assert "notes.txt" in html


def test_a_file_whose_read_fails_is_one_missing_thumbnail_not_a_failed_report(reported, team, tmp_path, caplog):
    # /proc/<pid>/mem is a regular file of size 0 whose read at offset 0 fails with EIO: a real I/O error.
    job = job_create(name="proc", source_path="/proc/self", owner=team["lead"], case=reported.case)
    data = b"\xff\xd8 pretend"
    image = Image.objects.create(
        sha256=hashlib.sha256(data).hexdigest(), md5="0" * 32, sha1="0" * 40, size=0, mime="image/jpeg",
        format="JPEG", raw_width=1, raw_height=1, width=1, height=1, mode="RGB", bit_depth=8,
    )  # fmt: skip
    _instance(job, "mem", b"", status=FileInstance.Status.IMAGE, image=image)
    JobImage.objects.create(job=job, image=image)
    category_set(case=reported.case, user=team["lead"], code="5", image_ids=[image.pk])
    html = _html(scope_of(case=reported.case, job=job), tmp_path, ("categories",))
    assert "the thumbnail could not be made (OSError, logged)" in html
    assert f"job {job.pk}" in caplog.text


def test_thumbnails_are_capped_per_category_and_the_counts_stay_complete(reported, team, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "LISTED", 1)
    case = reported.case
    category_set(case=case, user=team["lead"], code="5", image_ids=[reported.images["face"].pk])
    html = _html(scope_of(case=case), tmp_path, ("categories",))
    assert re.search(r"5 Non-pertinent</td><td class=\"n\">2</td>", html)
    assert "The first 1 of 2 are shown; the export lists every one." in html
    section = html.split("5 Non-pertinent &mdash;")[1].split("</div>")[0]
    assert section.count("<figure>") == 1


def test_a_job_report_blurs_what_the_case_veils_and_shows_faces_of_its_scope_only(reported, team, tmp_path):
    case, beach = reported.case, reported.images["beach"]
    # A second job of the case found the beach photo, and a known-bad set matched it there.
    other = job_create(name="laptop", source_path=reported.root, owner=team["lead"], case=case)
    data = (reported.root / "beach.jpg").read_bytes()
    instance = _instance(other, "beach.jpg", data, status=FileInstance.Status.IMAGE, image=beach)
    JobImage.objects.create(job=other, image=beach)
    bad = HashSet.objects.get(name="Known bad 2024-017")
    HashMatch.objects.create(file_instance=instance, job=other, hash_set=bad, algorithm=HashEntry.Algorithm.SHA256,
                             matched_at=timezone.now())  # fmt: skip
    html = _html(scope_of(case=case, job=reported.job), tmp_path, ("categories",))
    figure = next(f for f in re.findall(r"<figure>(.*?)</figure>", html, re.S) if beach.sha256 in f)
    assert ">blurred<" in figure
    # The person's representative face is on face.jpg, which the laptop's job did not find: no crop there.
    person = Person.objects.get(case=case)
    face = Face.objects.create(
        result=person.representative.result, image=beach, index=1, x=1, y=1, width=5, height=5, score=0.9,
        landmarks=[[1, 1]] * 5, embedding=bytes(16), crop=person.representative.crop,
    )  # fmt: skip
    FaceAssignment.objects.create(case=case, face=face, person=person, how="manual", at=timezone.now())
    persons = _html(scope_of(case=case, job=other), tmp_path, ("persons",)).split('id="persons"')[1]
    assert "<img " not in persons
    assert "no face shown" in persons
    assert "<img " in _html(scope_of(case=case, job=reported.job), tmp_path, ("persons",)).split('id="persons"')[1]


def test_the_audit_summary_counts_its_scope_alone(reported, team):
    case = reported.case
    of_case = {row["action"] for row in audit_summary(scope_of(case=case))["actions"]}
    of_job = {row["action"] for row in audit_summary(scope_of(case=case, job=reported.job))["actions"]}
    assert {"review.category.set", "case.create"} <= of_case
    assert "review.category.set" not in of_job  # the case's, not the job's
    # A deleted case's reference, taken again: the new case's summary holds none of the old one's events.
    old = case_create(reference="2024-050", title="old", owner=team["lead"])
    case_delete(case=old)
    new = case_create(reference="2024-050", title="new", owner=team["lead"])
    summary = audit_summary(scope_of(case=new))
    assert {row["action"]: row["ok"] for row in summary["actions"]} == {"case.create": 1}
