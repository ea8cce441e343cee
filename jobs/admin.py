"""Admin for the job models. What a scan recorded is evidence: shown, never edited or added by hand. A job's owner
and its shares change here through the services (`job_owner_set`, `job_share`, `job_unshare`): audited as in the app,
and whoever loses access has their open sockets on the job close."""

from django import forms
from django.contrib import admin

from content.admin import ReadOnlyAdmin
from jobs.models import BatchStage, FileInstance, Job, JobImage, JobShare, ScanBatch, StageClaim, StageProgress
from jobs.services import job_owner_set, job_share, job_unshare


class JobShareForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        job, user = cleaned.get("job") or getattr(self.instance, "job", None), cleaned.get("user")
        if job is not None and user is not None and user.pk == job.owner_id:
            raise forms.ValidationError("The owner already has every right on the job.")
        return cleaned


def _share_save(share: JobShare) -> None:
    """Save a share added or edited here through the services: a share given to another user or job is removed
    from the one that had it (who loses access) and made for the other."""
    was = JobShare.objects.filter(pk=share.pk).select_related("job").first() if share.pk else None
    if was is not None and (was.job_id, was.user_id) != (share.job_id, share.user_id):
        job_unshare(job=was.job, user_id=was.user_id)
    saved = job_share(job=share.job, user=share.user, role=share.role)
    share.pk = saved.pk


class JobShareInline(admin.TabularInline):
    model = JobShare
    form = JobShareForm
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

    def save_model(self, request, obj, form, change) -> None:
        if "owner" in form.changed_data:
            job_owner_set(job=obj, owner=obj.owner)
        # Only what was edited: the rest of the row is the scan's, which workers may be changing meanwhile.
        obj.save(update_fields=[name for name in ("name", "description") if name in form.changed_data])

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not JobShare:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for share in formset.deleted_objects:
            job_unshare(job=share.job, user_id=share.user_id)
        for share in [*formset.new_objects, *(share for share, _ in formset.changed_objects)]:
            _share_save(share)


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
    form = JobShareForm

    def save_model(self, request, obj, form, change) -> None:
        _share_save(obj)

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
