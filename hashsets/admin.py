"""The library in the Django admin: read only (imports, enabling and deleting go through the services, audited, on
the hash sets page or at the command line)."""

from django.contrib import admin

from hashsets.models import HashSet


@admin.register(HashSet)
class HashSetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "enabled", "entries", "malformed", "source_format", "version",
                    "imported_at"]  # fmt: skip
    list_filter = ["kind", "status", "enabled"]
    search_fields = ["name", "source_name", "source_sha256"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
