"""The library in the Django admin: read only (imports, enabling and deleting go through the services, audited, on
the hash sets page or at the command line)."""

from django.contrib import admin

from database.admin import RecordAdmin
from hashsets.models import HashSet


@admin.register(HashSet)
class HashSetAdmin(RecordAdmin):
    list_display = ["name", "kind", "status", "enabled", "entries", "malformed", "source_format", "version",
                    "imported_at"]  # fmt: skip
    list_filter = ["kind", "status", "enabled"]
    search_fields = ["name", "source_name", "source_sha256"]
