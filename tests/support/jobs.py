"""Jobs as the pipeline tests drive them: small distinct photos to scan, and waiting for a job to end."""

from __future__ import annotations

from pathlib import Path

from jobs.models import Job
from jobs.samples import exif_bytes, write_photo
from tests.support.waiting import wait_for


def photos(root: Path, seeds: range, folder: str = "") -> list[Path]:
    """Small distinct JPEGs with EXIF; the same seed gives the same bytes (same content at another path)."""
    return [
        write_photo(root / folder / f"img_{seed:05d}.jpg", width=48, height=32, seed=seed,
                    exif=exif_bytes(make="Test", model=f"M{seed % 3}", taken="2024:01:02 03:04:05"))
        for seed in seeds
    ]  # fmt: skip


def finished(job: Job, timeout: float = 180) -> Job:
    def final():
        job.refresh_from_db()
        return job.status in Job.FINAL

    wait_for(final, timeout=timeout, message=f"job {job.pk} to end")
    return job
