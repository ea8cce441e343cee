from django.contrib import admin

from audit.models import AuditEvent, AuditSeal
from database.admin import RecordAdmin

# The admin deletes one object at a time, each through its delete page: the admin logs a bulk deletion with
# bulk_create, which sends no signal, so the audit log (audit.signals) would not see it.
admin.site.disable_action("delete_selected")


def _seal(event: AuditEvent) -> AuditSeal | None:
    try:
        return event.seal
    except AuditSeal.DoesNotExist:
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(RecordAdmin):
    """Read-only: staff with the view permission read the log; nobody adds, changes or deletes a row here."""

    list_display = ("at", "username", "via", "action", "outcome", "job_id", "target", "client", "chain_seq")
    list_select_related = ("seal",)
    list_filter = ("via", "outcome", "action", "at")
    search_fields = ("username", "target", "detail", "client", "credential")
    date_hierarchy = "at"
    show_full_result_count = False
    # The event's seal in the hash chain (audit.chain), added by the sealer; `manage.py audit verify` checks it.
    readonly_fields = ("chain_seq", "chain_prev", "chain_hash")

    @admin.display(description="place in the chain")
    def chain_seq(self, event: AuditEvent) -> int | None:
        return _seal(event).seq if _seal(event) else None

    @admin.display(description="previous hash")
    def chain_prev(self, event: AuditEvent) -> str:
        return _seal(event).prev_hash if _seal(event) else "not sealed yet"

    @admin.display(description="hash")
    def chain_hash(self, event: AuditEvent) -> str:
        return _seal(event).hash if _seal(event) else "not sealed yet"
