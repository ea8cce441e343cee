r"""Paths recorded before the display rule was one-to-one (evidence.display) are shown again by it: a literal
backslash becomes `\\`, an invisible or bidi character `\uXXXX`, and a path whose shown form is no longer its UTF-8
text keeps its exact bytes in path_bytes. Only rows with a backslash or a character outside printable ASCII can
change."""

from django.db import migrations

from evidence.display import display_path

BATCH = 2000


def _show_paths_one_to_one(apps, schema_editor) -> None:
    FileInstance = apps.get_model("jobs", "FileInstance")
    rows = FileInstance.objects.filter(path__regex=r"[^\x20-\x5b\x5d-\x7e]").only("id", "path", "path_bytes")
    changed = []
    for row in rows.iterator(chunk_size=BATCH):
        raw = bytes(row.path_bytes) if row.path_bytes is not None else row.path.encode()
        shown = display_path(raw)
        if shown != row.path:
            row.path, row.path_bytes = shown, None if shown.encode() == raw else raw
            changed.append(row)
        if len(changed) >= BATCH:
            FileInstance.objects.bulk_update(changed, ["path", "path_bytes"])
            changed.clear()
    FileInstance.objects.bulk_update(changed, ["path", "path_bytes"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_file_instance_btime"),
    ]

    operations = [migrations.RunPython(_show_paths_one_to_one, migrations.RunPython.noop)]
