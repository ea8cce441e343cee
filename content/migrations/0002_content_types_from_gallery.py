"""The content types of the moved models follow them to the content app, so that the permissions granted on them and
the admin's history of them stay theirs (a content type left behind in the gallery app would be stale, and removing
stale ones would take those along). A fresh database has none yet: they are made after the migrations."""

from django.db import migrations

MODELS = ["image", "stageresult", "exifdata", "face", "classification"]


def _relabel(source: str, target: str):
    def relabel(apps, schema_editor) -> None:
        content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
        taken = set(content_types.filter(app_label=target, model__in=MODELS).values_list("model", flat=True))
        content_types.filter(app_label=source, model__in=set(MODELS) - taken).update(app_label=target)

    return relabel


class Migration(migrations.Migration):
    dependencies = [
        ("content", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("gallery", "0005_content_models_to_content"),
    ]

    operations = [migrations.RunPython(_relabel("gallery", "content"), _relabel("content", "gallery"))]
