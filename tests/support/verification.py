"""A job scanned for re-verification tests: discovery run in this process over a small folder (no stages, no
workers), which records real file instances with their hashes, and a snapshot of a folder to show that nothing in
it changed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jobs.models import Job
from jobs.pipeline.scanning import scan_job
from jobs.services import job_create
from tests.support.jobs import photos


def scanned_job(root: Path, *, owner, count: int = 6) -> Job:
    """A completed job over `root`, holding `count` photos and a text file, in a case of its own (`owner` its
    lead)."""
    photos(root, range(count), folder="photos")
    (root / "notes.txt").write_bytes(b"notes\n")
    job = job_create(name="evidence", source_path=root, owner=owner, stages=[])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    scan_job(job_id=job.pk, slice_seconds=600)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error
    return job


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Every path under `root` with its type, size, times (access time included) and inode: what a verification
    must leave as it was. Folders are listed with O_NOATIME, so that taking the snapshot changes none of it."""
    found = {}
    pending = [os.fsencode(root)]
    while pending:
        folder = pending.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
        try:
            names = [os.fsencode(entry.name) for entry in os.scandir(fd)]
        finally:
            os.close(fd)
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            found[path] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_atime_ns, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                pending.append(path)
    return found
