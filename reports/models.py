"""Case reports asked for from the web app: what was asked, how far the build is, and the file made (under
REPORTS_ROOT) with its SHA-256. A report made at the command line is written where the operator says and is known
by its audit record alone."""

from django.conf import settings
from django.db import models

from cases.models import Case
from jobs.models import Job


class Report(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        BUILDING = "building"
        DONE = "done"
        FAILED = "failed"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    # The one job reported on; null: every job of the case.
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    sections = models.JSONField(default=list)
    format = models.CharField(max_length=4)
    reveal = models.BooleanField(default=False, help_text="sensitive and hash-flagged thumbnails left unblurred")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=32, blank=True, help_text="what the build is at")
    stage_started_at = models.DateTimeField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="relative to REPORTS_ROOT")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "requested_by", "-created_at"], name="report_case_user")]

    def __str__(self) -> str:
        return f"report {self.pk} of case {self.case_id} ({self.status})"
