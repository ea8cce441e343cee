"""Evidence is read-only: a whole job (discovery and the EXIF stage, on real workers) leaves every file, folder and
link of the source exactly as it was: content, names, modes, owners, sizes, and times, access time included."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from django.core.management import call_command

from jobs.models import Job
from tests.support.evidence_trees import assert_counters_add_up, build_hostile_tree, build_unreadable_tree

pytestmark = pytest.mark.integration

# 2001-09-09: older than every modification time, so a kernel mounted with relatime would update any access time
# the scan caused (relatime updates it whenever it is not newer than the modification time).
OLD_ATIME_NS = 1_000_000_000 * 10**9


def all_paths(top: Path) -> list[bytes]:
    """`top` and every path under it, never following links."""
    raw = os.fsencode(top)
    found = [raw]
    for parent, dirs, files in os.walk(raw):
        found += [os.path.join(parent, name) for name in dirs + files]
    return sorted(found)


def content_digest(path: bytes) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)  # the test itself must not touch the access times either
    with os.fdopen(fd, "rb") as fp:
        return hashlib.file_digest(fp, "sha256").hexdigest()


def metadata(paths: list[bytes]) -> dict[bytes, tuple]:
    """lstat of every path (which reads no folder, so changes no access time)."""
    out = {}
    for path in paths:
        st = os.lstat(path)
        # Linux updates a symbolic link's access time whenever the link is read (readlink), and offers no
        # O_NOATIME for it: only a read-only or noatime mount keeps it. Everything else about a link must hold.
        atime = None if stat.S_ISLNK(st.st_mode) else st.st_atime_ns
        out[path] = (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
                     st.st_mtime_ns, st.st_ctime_ns, atime)  # fmt: skip
    return out


def contents(paths: list[bytes]) -> dict[bytes, str]:
    return {path: content_digest(path) for path in paths if stat.S_ISREG(os.lstat(path).st_mode)}


def test_a_scan_changes_nothing_in_the_evidence(transactional_db, workers, evidence_folder):
    build_hostile_tree(evidence_folder)
    build_unreadable_tree(evidence_folder / "permissions")
    # The source's parent holds outside.jpg, which a link points at: it must not be read either.
    paths = all_paths(evidence_folder.parent)
    digests = contents(paths)
    for path in paths:
        os.utime(path, ns=(OLD_ATIME_NS, os.lstat(path).st_mtime_ns), follow_symlinks=False)
    before = metadata(paths)
    assert all(times[-1] in (None, OLD_ATIME_NS) for times in before.values())

    call_command("scan", str(evidence_folder), "--name", "read-only", stdout=io.StringIO())
    job = Job.objects.get(name="read-only")
    assert job.status == Job.Status.COMPLETED, job.error
    assert job.distinct_images > 10  # the EXIF stage read the images too
    assert_counters_add_up(job)

    changed = {path: (before[path], after) for path, after in metadata(paths).items() if after != before[path]}
    assert changed == {}
    assert all_paths(evidence_folder.parent) == paths  # nothing created, removed or renamed
    assert contents(paths) == digests
