from django.contrib import admin

from audit.models import AuditEvent

# The admin deletes one object at a time, each through its delete page: the admin logs a bulk deletion with
# bulk_create, which sends no signal, so the audit log (audit.signals) would not see it.
admin.site.disable_action("delete_selected")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: staff with the view permission read the log; nobody adds, changes or deletes a row here."""

    list_display = ("at", "username", "via", "action", "outcome", "job_id", "target", "client", "chain_seq")
    list_filter = ("via", "outcome", "action", "at")
    search_fields = ("username", "target", "detail", "client", "credential")
    date_hierarchy = "at"
    show_full_result_count = False
    # The hash chain (audit.chain), set by the sealer and by nothing else; `manage.py audit verify` checks it.
    readonly_fields = ("chain_seq", "chain_prev", "chain_hash")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
