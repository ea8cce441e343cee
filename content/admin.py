"""Admin for evidence content and stage results: read-only, as they were recorded."""

from django.contrib import admin

from content.models import Classification, ExifData, Face, ForensicFlags, Image, PdqHash, StageResult


class ReadOnlyAdmin(admin.ModelAdmin):
    """Every field shown read-only; rows are created by scans only. Deleting goes through the job."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in (self.exclude or ())]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "sha256", "mime", "width", "height", "size"]
    search_fields = ["sha256", "md5", "sha1"]
    list_filter = ["mime"]


@admin.register(StageResult)
class StageResultAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "stage", "extractor_version", "status", "model_name", "created_at"]
    list_filter = ["stage", "status"]


@admin.register(ExifData)
class ExifDataAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "camera_make", "camera_model", "datetime_original", "gps_lat", "gps_lon"]
    search_fields = ["camera_make", "camera_model"]


@admin.register(Face)
class FaceAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "index", "score", "x", "y", "width", "height"]
    exclude = ["embedding", "crop"]  # binary; shown in the web app, not here


@admin.register(Classification)
class ClassificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "caption"]
    exclude = ["embedding"]


@admin.register(ForensicFlags)
class ForensicFlagsAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "taken", "thumbnail_distance"]


@admin.register(PdqHash)
class PdqHashAdmin(ReadOnlyAdmin):
    list_display = ["id", "image", "hash", "quality"]
    exclude = ["dihedral"]
