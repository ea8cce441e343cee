from django.contrib import admin

from api.models import ApiToken, QueuePause


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff can see and delete (revoke) tokens; a token's secret exists nowhere to be shown."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    search_fields = ("prefix", "name", "user__email")
    readonly_fields = ("user", "name", "prefix", "digest", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(QueuePause)
class QueuePauseAdmin(admin.ModelAdmin):
    list_display = ("queue", "worker", "drained", "paused_by", "paused_at")
