from django.contrib import admin

from verification.models import VerificationFile, VerificationRun


class _ReadOnly(admin.ModelAdmin):
    """Read-only: runs are a record, kept as they ended."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VerificationRun)
class VerificationRunAdmin(_ReadOnly):
    list_display = ("id", "job_number", "job_name", "username", "via", "status", "verified", "created_at")
    list_filter = ("status", "via")
    search_fields = ("job_name", "username")


@admin.register(VerificationFile)
class VerificationFileAdmin(_ReadOnly):
    list_display = ("id", "run", "outcome", "path")
    list_filter = ("outcome",)
    raw_id_fields = ("run",)
