"""Verification runs in the admin: a record, kept as they ended, read only."""

from django.contrib import admin

from database.admin import RecordAdmin
from verification.models import VerificationFile, VerificationRun


@admin.register(VerificationRun)
class VerificationRunAdmin(RecordAdmin):
    list_display = ("id", "job_number", "job_name", "username", "via", "status", "verified", "created_at")
    list_filter = ("status", "via")
    search_fields = ("job_name", "username")


@admin.register(VerificationFile)
class VerificationFileAdmin(RecordAdmin):
    list_display = ("id", "run", "outcome", "path")
    list_filter = ("outcome",)
    raw_id_fields = ("run",)
