"""Re-verifications of a job's evidence: each run, and every file it could not verify.

A run is kept for good, as the audit log is: deleting the job leaves its runs (the job's id and name stay in them),
and nothing deletes a run."""

from django.db import models
from django.utils import timezone

from audit.models import AuditEvent
from jobs.models import Job


class VerificationRun(models.Model):
    """One re-reading of a job's source, compared file by file with the job's manifest (its file instances)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    FINAL = (Status.DONE, Status.FAILED)

    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="verifications")
    # The job as it was when the run started, kept when the job is deleted.
    job_number = models.BigIntegerField()
    job_name = models.CharField(max_length=200)
    source_path = models.TextField()
    # Who started it, as the audit log keeps it (audit.services.Actor): no foreign key, so deleting the user
    # changes nothing here.
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=254, blank=True)
    via = models.CharField(max_length=8, choices=AuditEvent.Via.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # What a file's content and metadata were compared on ("sha256", "size", "mtime", ...).
    compared = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When it last showed a sign of life (queued, claimed, a batch recorded): a run queued or running that has shown
    # none for VERIFY_TIME_LIMIT is ended failed (verification.services.verification_stale_end).
    progressed_at = models.DateTimeField(default=timezone.now)
    # Progress: entries of the manifest when the run started, and entries found so far.
    expected = models.PositiveIntegerField(default=0)
    checked = models.PositiveIntegerField(default=0)
    verified = models.PositiveIntegerField(default=0)
    changed_hash = models.PositiveIntegerField(default=0)
    changed_metadata = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    unreadable = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["job_number", "-created_at"], name="verification_run_job")]

    def __str__(self) -> str:
        return f"verification {self.pk} of job {self.job_number}"

    @property
    def not_verified(self) -> int:
        return self.changed_hash + self.changed_metadata + self.missing + self.new + self.unreadable


class VerificationFile(models.Model):
    """One entry of a run that is not verified: what the manifest recorded and what the source holds now."""

    class Outcome(models.TextChoices):
        CHANGED_HASH = "changed_hash", "changed (content)"
        CHANGED_METADATA = "changed_metadata", "changed (metadata only)"
        MISSING = "missing"
        NEW = "new"
        UNREADABLE = "unreadable"

    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="files")
    # As jobs.models.FileInstance keeps a path: the text shown, and the exact bytes where they are not that text.
    path = models.TextField()
    path_bytes = models.BinaryField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # What differs ("sha256", "mtime", ...) or why the entry could not be read.
    detail = models.TextField(blank=True)
    expected_sha256 = models.CharField(max_length=64, blank=True)
    actual_sha256 = models.CharField(max_length=64, blank=True)
    expected_size = models.BigIntegerField(null=True, blank=True)
    actual_size = models.BigIntegerField(null=True, blank=True)
    expected_mtime = models.DateTimeField(null=True, blank=True)
    actual_mtime = models.DateTimeField(null=True, blank=True)
    expected_mode = models.PositiveIntegerField(null=True, blank=True)
    actual_mode = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "outcome", "id"], name="verification_file_outcome")]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.path}"

    @property
    def raw_path(self) -> bytes:
        return bytes(self.path_bytes) if self.path_bytes is not None else self.path.encode()
