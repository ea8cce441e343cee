"""A case for the export tests without a scan: a Project VIC case with members, a job that found a few images (one
of them also at a hostile path), the results its stages would have stored (EXIF with a hostile camera make, PDQ,
faces from a model with its SHA-256, a failed stage), and what the members decided about the images."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.services import case_create, case_member_set, scheme_named
from content.models import ExifData, Face, PdqHash, StageResult
from evidence.display import display_path
from jobs.models import FileInstance
from review.services import bookmark_set, category_confirm, category_set, note_add
from tests.support.review import images_in_case

# A name with a quote, a line break and a right-to-left override, as it is on disk.
HOSTILE_NAME = b'say "cheese"\n\xe2\x80\xaegpj.exe.jpg'
STAGES = {"exif": "3", "pdq": "1", "faces": "1"}
FACE_MODEL = ("buffalo_l", "c0ffee" + "0" * 58)


def stage_results_store(job, picture, *, failed: bool = False) -> None:
    """What the exif, pdq and faces stages found in `picture` (with `failed`, the exif stage failed on it), unless
    they have results for it already (the same content, found by another case's job)."""
    if StageResult.objects.filter(image=picture).exists():
        return
    if failed:
        StageResult.objects.create(image=picture, stage="exif", extractor_version="3", status="failed",
                                   error="truncated JPEG: end-of-image marker missing")  # fmt: skip
        return
    exif = StageResult.objects.create(image=picture, stage="exif", extractor_version="3", status="done",
                                      model_name="pillow")  # fmt: skip
    ExifData.objects.create(result=exif, image=picture, camera_make="Ca\u202enon", camera_model="EOS 5D",
                            datetime_original="2021-05-04T10:00:00+02:00", gps_lat=48.85, gps_lon=2.29)  # fmt: skip
    pdq = StageResult.objects.create(image=picture, stage="pdq", extractor_version="1", status="done",
                                     params={"quality_min": 50})  # fmt: skip
    PdqHash.objects.create(result=pdq, image=picture, hash="ab" * 32, quality=90, dihedral=b"")
    faces = StageResult.objects.create(image=picture, stage="faces", extractor_version="1", status="done",
                                       model_name=FACE_MODEL[0], model_sha256=FACE_MODEL[1])  # fmt: skip
    for index in range(2):
        Face.objects.create(result=faces, image=picture, index=index, x=1, y=1, width=2, height=2, score=0.9,
                            landmarks=[], embedding=b"", crop=b"")  # fmt: skip


def categorised_case(source: Path, *, reference: str = "2024-017", scheme: str = "Project VIC") -> dict:
    """Case `reference` led by alice, bob its examiner, carol its reviewer; its job found images 1-4 (image 1 also
    at HOSTILE_NAME). Image 1 is in category 1 confirmed, 2 in category 5 (set), 3 proposed for category 2; image 4
        has nothing. Bob bookmarked image 2, alice left a note on image 1. The job ran while its stage results were
    stored, unless another case's job stored them already (the same content)."""
    users = get_user_model().objects
    alice, bob, carol = (
        users.get_or_create(username=n, defaults={"email": f"{n}@lab.example"})[0] for n in ("alice", "bob", "carol")
    )
    case = case_create(reference=reference, title=f"Op. {reference}", owner=alice, scheme=scheme_named(name=scheme))
    case_member_set(case=case, user=bob, role="examiner")
    case_member_set(case=case, user=carol, role="reviewer")
    job, pictures = images_in_case(case=case, owner=alice, source=source, numbers=range(1, 5))
    job.config = {**job.config, "stages": list(STAGES), "versions": STAGES, "params": {}}
    job.exhibit = "EX-1 phone"
    job.started_at = timezone.now()
    job.save()
    path = display_path(HOSTILE_NAME)
    first = pictures[0]
    FileInstance.objects.create(
        job=job, path=path, path_bytes=HOSTILE_NAME, path_digest=hashlib.sha256(HOSTILE_NAME).hexdigest(),
        kind="file", size=first.size, mime="image/jpeg", status=FileInstance.Status.IMAGE, sha256=first.sha256,
        md5=first.md5, sha1=first.sha1, image=first,
    )  # fmt: skip
    stage_results_store(job, first)
    stage_results_store(job, pictures[1], failed=True)
    job.finished_at = timezone.now()
    job.save(update_fields=["finished_at"])
    if scheme == "Project VIC":
        category_set(case=case, user=alice, code="1", image_ids=[first.pk])
        category_confirm(case=case, user=bob, image_ids=[first.pk])
        category_set(case=case, user=bob, code="5", image_ids=[pictures[1].pk])
        category_set(case=case, user=bob, code="2", image_ids=[pictures[2].pk])
    bookmark_set(case=case, user=bob, image_ids=[pictures[1].pk], on=True)
    note_add(case=case, user=alice, image_id=first.pk, text='seen on EX-2 too: "=1+2"\nsecond line')
    return {"case": case, "job": job, "images": pictures, "alice": alice, "bob": bob, "carol": carol,
            "hostile_path": path}  # fmt: skip
