"""The opening of the evidence files a job found, for serving them (the web app's originals and pictures, the gRPC
API's file downloads): read-only, and only while the file is still the one the scan recorded."""

from __future__ import annotations

import os
from typing import BinaryIO

from evidence.opening import EvidenceError, open_evidence
from jobs.models import FileInstance, Job


class EvidenceUnavailable(Exception):
    """The evidence file cannot be served: missing, unreadable, outside its source, or changed since the scan."""


def open_file_instance(*, job: Job, instance: FileInstance) -> BinaryIO:
    """Open a file the job found, read-only, refusing anything that is not the file the scan recorded: a path
    that now leads out of the job's source through a link, a link or non-regular file in its place, or a file of
    another inode or size."""
    root = os.path.realpath(os.fsencode(job.source_path))
    path = os.path.join(root, instance.raw_path)
    parent = os.path.realpath(os.path.dirname(path))
    if parent != root and not parent.startswith(root + b"/"):
        raise EvidenceUnavailable("the file's folder now leads out of the job's source")
    try:
        fp = open_evidence(path)
    except EvidenceError as exc:
        raise EvidenceUnavailable(f"evidence file unavailable: {exc}") from exc
    st = os.fstat(fp.fileno())
    if st.st_size != instance.size or (instance.inode is not None and st.st_ino != instance.inode):
        fp.close()
        raise EvidenceUnavailable("the evidence file changed since the scan (size or inode differs)")
    return fp
