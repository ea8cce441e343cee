"""A case for the report tests, without a scan: real photos on disk (so that thumbnails are made from them) and the
rows a scan, its stages, the members' review and the clustering would have stored: EXIF with GPS, a forensic flag,
a face in a named person, a known-bad hash-set match, categories (one sensitive), and hostile names (markup, a
right-to-left override) in a file name, an EXIF field and a person's name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from cases.schemes import PROJECT_VIC
from cases.services import case_create, case_member_set, scheme_named
from content.models import ExifData, Face, ForensicFlags, Image, StageResult
from hashsets.models import HashEntry, HashSet
from jobs.models import FileInstance, HashMatch, Job, JobImage
from jobs.samples import Gps, exif_bytes, write_photo
from jobs.services import job_create
from persons.models import FaceAssignment, Person
from review.services import category_confirm, category_set

HOSTILE_FILE = "<script>alert(1)</script>\u202egpj.exe.jpg"
HOSTILE_MAKE = '<img src="http://evil.example/x.png">'
HOSTILE_PERSON = "Mallory \u202e<b>evil</b>"
MODEL_SHA256 = "ab" * 32


@dataclass
class ReportCase:
    case: object
    job: Job
    images: dict[str, Image]
    root: Path


def _photo(root: Path, name: str, seed: int, exif: bytes) -> tuple[Path, bytes]:
    path = write_photo(root / name, width=320, height=240, seed=seed, exif=exif)
    return path, path.read_bytes()


def _record(job: Job, root: Path, name: str, data: bytes) -> Image:
    sha = hashlib.sha256(data).hexdigest()
    image = Image.objects.create(
        sha256=sha, md5=hashlib.md5(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest(), size=len(data),
        mime="image/jpeg", format="JPEG", raw_width=320, raw_height=240, width=320, height=240, mode="RGB",
        bit_depth=8,
    )  # fmt: skip
    st = (root / name).stat()
    FileInstance.objects.create(
        job=job, path=name, path_digest=hashlib.sha256(name.encode()).hexdigest(), kind="file", size=st.st_size,
        inode=st.st_ino, mtime=timezone.now(), status="image", mime="image/jpeg", sha256=sha, md5=image.md5,
        sha1=image.sha1, image=image,
    )  # fmt: skip
    JobImage.objects.create(job=job, image=image)
    return image


def _result(job: Job, image: Image, stage: str, **more) -> StageResult:
    return StageResult.objects.create(
        image=image, stage=stage, extractor_version=job.run_config.version(stage), status="done", **more
    )


def report_case(*, root: Path, lead, examiner, reviewer, reference: str = "2024-017", seed: int = 0) -> ReportCase:
    """A completed job of four photos in a Project VIC case led by `lead`: "beach.jpg" (GPS in Paris, category 5
    by the lead), "hostile" (HOSTILE_FILE: GPS in London, HOSTILE_MAKE as its camera, proposed 1 by the examiner
    and confirmed by the lead: sensitive), "flagged.jpg" (a known-bad set's match, a forensic flag) and
    "face.jpg" (a face in the person HOSTILE_PERSON). `seed` makes the photos of another case differ."""
    case = case_create(reference=reference, title="Report test", owner=lead, scheme=scheme_named(name=PROJECT_VIC))
    case_member_set(case=case, user=examiner, role="examiner")
    case_member_set(case=case, user=reviewer, role="reviewer")
    job = job_create(name="phone", source_path=root, owner=lead, stages=["exif", "faces", "forensic"], case=case)
    names = {
        "beach": ("beach.jpg", Gps(48.8584, 2.2945), "Canon"),
        "hostile": (HOSTILE_FILE, Gps(51.5007, -0.1246), HOSTILE_MAKE),
        "flagged": ("flagged.jpg", None, "Nikon"),
        "face": ("face.jpg", None, "Nikon"),
    }
    images = {}
    for n, (key, (name, gps, make)) in enumerate(names.items()):
        _path, data = _photo(root, name, seed * 10 + n, exif_bytes(make=make, model="X", gps=gps))
        image = images[key] = _record(job, root, name, data)
        result = _result(job, image, "exif")
        ExifData.objects.create(
            result=result, image=image, camera_make=make, camera_model="X", gps_lat=gps.lat if gps else None,
            gps_lon=gps.lon if gps else None, datetime_original="2024-01-02T03:04:05",
        )  # fmt: skip
    total = sum(i.size for i in images.values())
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.COMPLETED, files_seen=4, images=4, distinct_images=4, bytes_seen=total,
        discovery_finished=True, finished_at=timezone.now(),
    )  # fmt: skip
    job.refresh_from_db()
    ForensicFlags.objects.create(
        result=_result(job, images["flagged"], "forensic"), image=images["flagged"],
        flags=[{"code": "edited-by-software", "why": "the Software tag names an editor"}],
    )  # fmt: skip
    faces_result = _result(job, images["face"], "faces", model_name="buffalo_s", model_sha256=MODEL_SHA256)
    with open(root / "face.jpg", "rb") as fp:
        crop = fp.read()
    face = Face.objects.create(
        result=faces_result, image=images["face"], index=0, x=1, y=1, width=50, height=50, score=0.9,
        landmarks=[[1, 1]] * 5, embedding=bytes(16), crop=crop,
    )  # fmt: skip
    person = Person.objects.create(case=case, name=HOSTILE_PERSON, centroid=bytes(16), face_count=1,
                                   representative=face)  # fmt: skip
    FaceAssignment.objects.create(case=case, face=face, person=person, how="manual", at=timezone.now())
    bad = HashSet.objects.create(name=f"Known bad {reference}", kind=HashSet.Kind.KNOWN_BAD, status="ready")
    instance = FileInstance.objects.get(job=job, image=images["flagged"])
    HashMatch.objects.create(
        file_instance=instance, job=job, hash_set=bad, algorithm=HashEntry.Algorithm.SHA256, matched_at=timezone.now()
    )
    category_set(case=case, user=lead, code="5", image_ids=[images["beach"].pk])
    category_set(case=case, user=examiner, code="1", image_ids=[images["hostile"].pk])
    category_confirm(case=case, user=lead, image_ids=[images["hostile"].pk])
    return ReportCase(case=case, job=job, images=images, root=root)
