"""Admin for the job models. What a scan recorded is evidence: shown, never edited or added by hand. A share removed
here is removed by the service (`job_unshare`): audited, and the user's open sockets on the job close."""

from django.contrib import admin

from content.admin import ReadOnlyAdmin
from jobs.models import BatchStage, FileInstance, Job, JobImage, JobShare, ScanBatch, StageClaim, StageProgress
from jobs.services import job_unshare


class JobShareInline(admin.TabularInline):
    model = JobShare
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "status", "files_seen", "images", "errors", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "description", "source_path"]
    inlines = [JobShareInline]
    # Name, description and owner are the case's paperwork; everything else is what the scan did.
    readonly_fields = [f.name for f in Job._meta.fields if f.name not in ("name", "description", "owner")]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created on a validated source, from the web app or the CLI

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not JobShare:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for share in formset.deleted_objects:
            job_unshare(job=share.job, user_id=share.user_id)
        for share in [*formset.new_objects, *(share for share, _ in formset.changed_objects)]:
            share.save()


@admin.register(FileInstance)
class FileInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "path", "status", "mime", "size", "error"]
    list_filter = ["status"]
    search_fields = ["path", "sha256", "md5", "sha1"]
    list_select_related = ["job"]


@admin.register(JobImage)
class JobImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "image"]


@admin.register(JobShare)
class JobShareAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "user", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]

    def delete_model(self, request, obj) -> None:
        job_unshare(job=obj.job, user_id=obj.user_id)

    def delete_queryset(self, request, queryset) -> None:
        for share in queryset:
            self.delete_model(request, share)


@admin.register(StageProgress)
class StageProgressAdmin(ReadOnlyAdmin):
    list_display = ["job", "stage", "total", "done", "failed", "skipped", "unavailable"]


@admin.register(ScanBatch)
class ScanBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "seq", "finished", "created_at", "finished_at"]


@admin.register(BatchStage)
class BatchStageAdmin(ReadOnlyAdmin):
    list_display = ["id", "batch", "stage", "finished", "done", "failed", "skipped", "unavailable", "reused"]


@admin.register(StageClaim)
class StageClaimAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "stage", "extractor_version", "batch", "created_at"]
    list_filter = ["stage"]
