"""What the page benchmarks (benchmarks.web, benchmarks.grpc, benchmarks.review) page through: a database of their
own, and in it a completed job of many images as rows only, bulk-created directly (no files are needed to page
through them); and, for what serves pictures (benchmarks.web, benchmarks.viewer), a job of real photos.

Django is set up by the benchmark once its database is made, so the models are imported where they are used."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime
from pathlib import Path

IMAGES = 50_000
# How far into the job each timed page starts, as a share of its images.
DEPTHS = (0.0, 0.1, 0.5, 0.9, 0.999)


def database_recreate(url: str) -> None:
    """Drop and create again the database `url` names (the benchmark's own)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def job_rows_create(owner, *, images: int):
    """A completed job of `images` distinct images, each at one path, with EXIF (every 4th with GPS), and the
    tables analysed, as autovacuum would soon after a bulk load (plans need row counts)."""
    from django.db import connection

    from cases.services import case_create
    from content.models import ExifData, Image, StageResult
    from extractors.registry import get_registry
    from jobs.models import FileInstance, Job, JobImage, StageProgress

    version = get_registry().versions()["exif"]
    case = case_create(reference=f"bench-{uuid.uuid4().hex}", title="bench", owner=owner)
    job = Job.objects.create(
        case=case,
        name="bench", owner=owner, source_path="/nonexistent", status=Job.Status.COMPLETED,
        config={"stages": ["exif"], "versions": {"exif": version}}, files_seen=images, images=images,
        distinct_images=images, discovery_finished=True,
    )  # fmt: skip
    StageProgress.objects.create(job=job, stage="exif", total=images, done=images)
    now = datetime.now(tz=UTC)
    step = 5000
    for start in range(0, images, step):
        numbers = range(start, min(start + step, images))
        shas = {n: hashlib.sha256(f"bench-{n}".encode()).hexdigest() for n in numbers}
        Image.objects.bulk_create(
            Image(
                sha256=shas[n], md5=shas[n][:32], sha1=shas[n][:40], size=200_000 + (n * 7919) % 5_000_000,
                mime="image/jpeg", format="JPEG", raw_width=4000, raw_height=3000, width=4000 - (n % 3) * 1000,
                height=3000, mode="RGB", bit_depth=8,
            )
            for n in numbers
        )  # fmt: skip
        ids = dict(Image.objects.filter(sha256__in=shas.values()).values_list("sha256", "id"))
        paths = {n: f"Users/suspect/Pictures/{n % 97:02d}/IMG_{n:06d}.JPG" for n in numbers}
        FileInstance.objects.bulk_create(
            FileInstance(
                job=job, path=paths[n], path_digest=hashlib.sha256(paths[n].encode()).hexdigest(), kind="file",
                size=200_000 + (n * 7919) % 5_000_000, mtime=now, status="image", mime="image/jpeg",
                sha256=shas[n], md5=shas[n][:32], sha1=shas[n][:40], image_id=ids[shas[n]],
            )
            for n in numbers
        )  # fmt: skip
        JobImage.objects.bulk_create(JobImage(job=job, image_id=ids[shas[n]]) for n in numbers)
        StageResult.objects.bulk_create(
            StageResult(image_id=ids[shas[n]], stage="exif", extractor_version=version, status="done") for n in numbers
        )
        results = dict(
            StageResult.objects.filter(image_id__in=ids.values(), stage="exif").values_list("image_id", "id")
        )
        ExifData.objects.bulk_create(
            ExifData(
                result_id=results[ids[shas[n]]], image_id=ids[shas[n]], tags={"IFD0": {"Make": "Canon"}},
                camera_make="Canon", camera_model=f"EOS {n % 5}D",
                datetime_original=f"20{10 + n % 14}-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00",
                gps_lat=(48.0 + n / images) if n % 4 == 0 else None, gps_lon=(2.0 + n / images) if n % 4 == 0 else None,
            )
            for n in numbers
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return job


def photo_job_create(owner, root: Path, *, photos: int):
    """A completed job of `photos` real JPEGs (1600x1200, camera-like, with EXIF, every fifth turned by it) written
    under `root` and recorded as its images, as a scan would (what the thumbnail and viewer benchmarks serve)."""
    from PIL import Image as PILImage

    from cases.services import case_create
    from content.models import Image
    from extractors.registry import get_registry
    from jobs.models import FileInstance, Job, JobImage
    from jobs.samples import exif_bytes, write_photo

    case = case_create(reference=f"bench-{uuid.uuid4().hex}", title="thumbs", owner=owner)
    job = Job.objects.create(
        case=case,
        name="thumbs", owner=owner, source_path=str(root), status=Job.Status.COMPLETED,
        config={"stages": ["exif"], "versions": get_registry().versions()},
    )  # fmt: skip
    for n in range(photos):
        path = write_photo(
            root / f"DCIM/IMG_{n:04d}.jpg", width=1600, height=1200, seed=n,
            exif=exif_bytes(make="Canon", model="EOS 80D", orientation=6 if n % 5 == 0 else 1),
        )  # fmt: skip
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        turned = n % 5 == 0
        with PILImage.open(io.BytesIO(data)) as img:
            width, height = img.size
        image = Image.objects.create(
            sha256=sha, md5=hashlib.md5(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest(), size=len(data),
            mime="image/jpeg", format="JPEG", raw_width=width, raw_height=height,
            width=height if turned else width, height=width if turned else height, orientation=6 if turned else 1,
            mode="RGB", bit_depth=8,
        )  # fmt: skip
        st = path.stat()
        relative = str(path.relative_to(root))
        FileInstance.objects.create(
            job=job, path=relative, path_digest=hashlib.sha256(relative.encode()).hexdigest(), kind="file",
            size=st.st_size, inode=st.st_ino, status="image", mime="image/jpeg", sha256=sha, image=image,
        )  # fmt: skip
        JobImage.objects.create(job=job, image=image)
    return job
