"""Re-verifying a job's evidence (verification.services), directly: each kind of change found as exactly that, the
run kept and audited, and nothing under the source touched."""

from __future__ import annotations

import os

import pytest

from audit.models import AuditEvent
from audit.services import actor_for
from tests.support.verification import scanned_job, snapshot
from verification.models import VerificationFile, VerificationRun
from verification.services import VerificationRefused, verification_execute, verification_start


def _verify(job, user):
    run = verification_start(job=job, actor=actor_for(user, via=AuditEvent.Via.WEB))
    return verification_execute(run_id=run.pk)


def test_an_untouched_source_is_verified_in_full_and_read_without_a_trace(job, lead, evidence_dir):
    before = snapshot(evidence_dir)
    run = _verify(job, lead)
    assert snapshot(evidence_dir) == before
    assert (run.status, run.verified, run.not_verified, run.checked) == ("done", job.files_seen, 0, job.files_seen)
    assert run.compared == ["sha256", "sha1", "md5", "size", "mtime", "mode"]
    events = list(AuditEvent.objects.filter(job_id=job.pk, action__startswith="verify.").order_by("id"))
    assert [(e.action, e.outcome, e.username) for e in events] == [
        ("verify.start", "ok", "lead@lab.example"),
        ("verify.finish", "ok", ""),
    ]
    assert events[1].data == {"verification": run.pk, "verified": job.files_seen, "changed_hash": 0,
                              "changed_metadata": 0, "missing": 0, "new": 0, "unreadable": 0}  # fmt: skip


def test_changed_content_a_touched_time_a_deletion_and_an_addition_are_each_found(job, lead, evidence_dir):
    folder = evidence_dir / "photos"
    (folder / "img_00000.jpg").write_bytes(b"not the photo any more")
    touched = folder / "img_00001.jpg"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))
    (folder / "img_00002.jpg").unlink()
    (folder / "added\u202e.txt").write_bytes(b"new")
    before = snapshot(evidence_dir)

    run = _verify(job, lead)

    assert snapshot(evidence_dir) == before
    assert (run.verified, run.changed_hash, run.changed_metadata, run.missing, run.new, run.unreadable) == (
        job.files_seen - 3, 1, 1, 1, 1, 0)  # fmt: skip
    rows = {row.path: row for row in VerificationFile.objects.filter(run=run)}
    assert {path: row.outcome for path, row in rows.items()} == {
        "photos/img_00000.jpg": "changed_hash",
        "photos/img_00001.jpg": "changed_metadata",
        "photos/img_00002.jpg": "missing",
        "photos/added\\u202e.txt": "new",  # shown escaped; the exact bytes are kept beside
    }
    assert rows["photos/added\\u202e.txt"].raw_path == "photos/added\u202e.txt".encode()
    changed = rows["photos/img_00000.jpg"]
    assert changed.expected_sha256
    assert changed.actual_sha256
    assert changed.expected_sha256 != changed.actual_sha256
    assert changed.actual_size == len(b"not the photo any more")
    assert rows["photos/img_00001.jpg"].detail == "mtime"
    touched_row = rows["photos/img_00001.jpg"]
    assert (touched_row.expected_mtime - touched_row.actual_mtime).total_seconds() == 1
    assert rows["photos/img_00002.jpg"].expected_sha256
    assert not rows["photos/img_00002.jpg"].actual_sha256


def test_a_name_that_is_not_utf8_is_kept_with_its_exact_bytes(lead, evidence_dir):
    job = scanned_job(evidence_dir, owner=lead, count=1)
    raw = os.path.join(os.fsencode(evidence_dir), b"caf\xe9.txt")
    with open(raw, "wb") as out:
        out.write(b"x")
    run = _verify(job, lead)
    (row,) = VerificationFile.objects.filter(run=run)
    assert (row.outcome, row.raw_path, row.path) == ("new", b"caf\xe9.txt", "caf\\xe9.txt")


def test_a_run_of_a_source_gone_fails_with_the_reason_and_is_audited(job, lead, evidence_dir):
    run = verification_start(job=job, actor=actor_for(lead, via=AuditEvent.Via.WEB))
    evidence_dir.rename(evidence_dir.with_name("moved"))
    try:
        done = verification_execute(run_id=run.pk)
    finally:
        evidence_dir.with_name("moved").rename(evidence_dir)
    assert (done.status, done.error) == ("failed", "source folder is missing or not a folder")
    assert AuditEvent.objects.filter(action="verify.finish", outcome="failed", job_id=job.pk).exists()
    assert verification_execute(run_id=run.pk) is None  # a run ends once


def test_runs_are_kept_when_the_job_is_deleted(job, lead):
    from jobs.services import job_delete

    run = _verify(job, lead)
    job_id = job.pk
    job_delete(job=job)
    run = VerificationRun.objects.get(pk=run.pk)
    assert (run.job_id, run.job_number, run.job_name, run.verified) == (None, job_id, "evidence", job.files_seen)
    assert VerificationFile.objects.filter(run=run).count() == 0  # it had none: everything was verified


def test_a_run_cannot_be_deleted(job, lead, evidence_dir):
    from django.db import DatabaseError, transaction

    (evidence_dir / "notes.txt").unlink()
    run = _verify(job, lead)
    for rows in (VerificationFile.objects.filter(run=run), VerificationRun.objects.filter(pk=run.pk)):
        with pytest.raises(DatabaseError, match="verification runs are kept"), transaction.atomic():
            rows.delete()
    assert VerificationFile.objects.filter(run=run, outcome="missing").count() == 1


def test_a_source_folder_now_a_link_elsewhere_is_never_walked(job, lead, evidence_dir):
    """The job's source replaced by a link to another folder (another exhibit): the run ends failed, recording
    nothing of that folder."""
    other = evidence_dir.with_name("other-exhibit")
    other.mkdir()
    (other / "secret.txt").write_bytes(b"another case's file")
    run = verification_start(job=job, actor=actor_for(lead, via=AuditEvent.Via.WEB))
    evidence_dir.rename(evidence_dir.with_name("kept"))
    evidence_dir.symlink_to(other)
    try:
        done = verification_execute(run_id=run.pk)
    finally:
        evidence_dir.unlink()
        evidence_dir.with_name("kept").rename(evidence_dir)
    assert (done.status, done.error) == ("failed", "the source path now leads elsewhere")
    assert (done.checked, VerificationFile.objects.filter(run=done).count()) == (0, 0)
    finish = AuditEvent.objects.get(action="verify.finish", job_id=job.pk)
    assert (finish.outcome, finish.detail) == ("failed", "the source path now leads elsewhere")


def test_a_job_deleted_during_the_run_ends_it_failed(job, lead):
    from jobs.services import job_delete

    run = verification_start(job=job, actor=actor_for(lead, via=AuditEvent.Via.WEB))
    deleted = []

    def delete_once(now):
        if not deleted:
            deleted.append(job.pk)
            job_delete(job=job)

    # BATCH entries a batch: the job (7 entries) is deleted after its only batch, caught at the end.
    done = verification_execute(run_id=run.pk, on_progress=delete_once)
    assert (done.status, done.error) == ("failed", "the job was deleted during the run")
    assert done.new == 0


def test_a_job_deleted_between_batches_ends_the_run_at_the_next(job, lead, monkeypatch):
    from jobs.services import job_delete
    from verification import comparison

    monkeypatch.setattr(comparison, "BATCH", 2)
    run = verification_start(job=job, actor=actor_for(lead, via=AuditEvent.Via.WEB))
    deleted = []

    def delete_once(now):
        if not deleted:
            deleted.append(job.pk)
            job_delete(job=job)

    done = verification_execute(run_id=run.pk, on_progress=delete_once)
    assert (done.status, done.error, done.checked) == ("failed", "the job was deleted during the run", 2)
    assert not VerificationFile.objects.filter(run=done, outcome="new").exists()


def test_one_run_at_a_time_and_a_run_left_without_progress_does_not_block(job, lead, settings):
    from datetime import timedelta

    from django.utils import timezone

    actor = actor_for(lead, via=AuditEvent.Via.WEB)
    first = verification_start(job=job, actor=actor)
    with pytest.raises(VerificationRefused, match=f"verification {first.pk} of job {job.pk} is queued"):
        verification_start(job=job, actor=actor)
    assert AuditEvent.objects.filter(action="verify.start", outcome="refused", job_id=job.pk).count() == 1
    # A worker killed mid-run leaves it running; once it has shown no progress for VERIFY_TIME_LIMIT it is stale.
    long_ago = timezone.now() - timedelta(seconds=settings.VERIFY_TIME_LIMIT + 60)
    VerificationRun.objects.filter(pk=first.pk).update(status="running", progressed_at=long_ago)
    second = verification_start(job=job, actor=actor)
    first.refresh_from_db()
    assert (first.status, first.error) == ("failed", "stopped: no progress for longer than a run may take")
    assert verification_execute(run_id=second.pk).status == "done"


def test_a_fault_shows_its_kind_only(job, lead, monkeypatch):
    from verification import services

    def fault(*args, **kwargs):
        raise OSError(f"cannot read {job.source_path}/secret/path")

    monkeypatch.setattr(services, "compare_source", fault)
    run = verification_start(job=job, actor=actor_for(lead, via=AuditEvent.Via.WEB))
    with pytest.raises(OSError, match="secret"):
        verification_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "stopped on an error (OSError)")
    finish = AuditEvent.objects.get(action="verify.finish", job_id=job.pk)
    assert "secret" not in finish.detail
