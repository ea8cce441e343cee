"""Admin for the job models. What a scan recorded is evidence: shown, never edited or added by hand. A job's owner
changes here through `job_owner_set`: audited as in the app, and whoever loses access has their open sockets on the
job close. Who else may see a job is its case's members (cases.admin)."""

from django import forms
from django.contrib import admin

from cases.models import OWN_CASE_REFERENCE
from content.admin import ReadOnlyAdmin
from jobs.models import BatchStage, FileInstance, HashMatch, Job, JobImage, ScanBatch, StageClaim, StageProgress
from jobs.services import job_owner_set


class JobForm(forms.ModelForm):
    def clean_owner(self):
        """A single job's own case is led by the owner it was made for: the job passes to someone, not to nobody,
        while that owner leads it alone (job_owner_set would leave the case with no lead)."""
        owner, job = self.cleaned_data["owner"], self.instance
        case = job.case
        if (
            owner is None
            and job.owner_id is not None
            and OWN_CASE_REFERENCE.fullmatch(case.reference)
            and case.owner_id == job.owner_id
            and not case.jobs.filter(owner_id=job.owner_id).exclude(pk=job.pk).exists()
        ):
            raise forms.ValidationError("The job's own case needs a lead: give the job to another user.")
        return owner


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobForm
    list_display = ["id", "name", "case", "exhibit", "owner", "status", "files_seen", "images", "errors", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "description", "source_path", "case__reference", "exhibit"]
    # Name, description, exhibit and owner are the case's paperwork; everything else is what the scan did.
    readonly_fields = [f.name for f in Job._meta.fields if f.name not in ("name", "description", "exhibit", "owner")]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created on a validated source, from the web app or the CLI

    def save_model(self, request, obj, form, change) -> None:
        if "owner" in form.changed_data:
            job_owner_set(job=obj, owner=obj.owner)
        # Only what was edited: the rest of the row is the scan's, which workers may be changing meanwhile.
        obj.save(update_fields=[name for name in ("name", "description", "exhibit") if name in form.changed_data])


@admin.register(FileInstance)
class FileInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "path", "status", "mime", "size", "error"]
    list_filter = ["status"]
    search_fields = ["path", "sha256", "md5", "sha1"]
    list_select_related = ["job"]


@admin.register(JobImage)
class JobImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "job", "image"]


@admin.register(HashMatch)
class HashMatchAdmin(ReadOnlyAdmin):
    """What the hash sets matched: made by the matching (jobs.hashmatching, jobs.pdqmatching) only."""

    list_display = ["id", "job", "file_instance_id", "hash_set", "algorithm", "distance", "matched_at"]
    list_filter = ["algorithm"]
    raw_id_fields = ["job", "file_instance", "hash_set"]


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
