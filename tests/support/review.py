"""Images of a case without a scan: a job of the case with the rows a scan would have stored for a few images (an
image, the job's distinct image, one file instance each), for the review tests over gRPC, the command line and the
export."""

from __future__ import annotations

import hashlib
from pathlib import Path

from content.models import Image
from jobs.models import FileInstance, Job, JobImage
from jobs.services import job_create
from tests.support.bulk import image


def images_in_case(*, case, owner, source: Path, numbers: range, name: str = "phone") -> tuple[Job, list[Image]]:
    """A job of `case` (`owner` its lead or an examiner) that found the images numbered `numbers` (the same number
    is the same content in every case: tests.support.bulk.image), each at one path "img-<n>.jpg"."""
    job = job_create(name=name, source_path=source, owner=owner, stages=[], case=case)
    images = []
    for n in numbers:
        picture, _ = Image.objects.get_or_create(sha256=image(n)["sha256"], defaults=image(n))
        JobImage.objects.create(job=job, image=picture)
        path = f"img-{n}.jpg"
        FileInstance.objects.create(
            job=job, path=path, path_digest=hashlib.sha256(path.encode()).hexdigest(), kind="file", size=picture.size,
            mime="image/jpeg", status=FileInstance.Status.IMAGE, sha256=picture.sha256, md5=picture.md5,
            sha1=picture.sha1, image=picture,
        )  # fmt: skip
        images.append(picture)
    return job, images
