"""Each case is assigned the sources its jobs scanned (the top-level folder of SOURCES_ROOT each job's source lies
in), so that the members who could start a job on a source before sources were assigned to cases still can, in the
case that holds their jobs. A source scanned outside SOURCES_ROOT (at the command line) is no source: nothing is
assigned for it. Backwards, the assignments go with their table."""

import os

from django.conf import settings
from django.db import migrations


def source_name(path: str, root: str) -> str | None:
    """The top-level folder of `root` that `path` lies in, or None (outside it, the root itself, a hidden folder)."""
    if not path.startswith(root + os.sep):
        return None
    name = os.path.relpath(path, root).split(os.sep)[0]
    return None if name.startswith(".") else name


def sources_of_their_cases(apps, schema_editor) -> None:
    Job = apps.get_model("jobs", "Job")
    CaseSource = apps.get_model("cases", "CaseSource")
    root = os.path.realpath(settings.SOURCES_ROOT)
    scanned = {
        (case_id, name)
        for case_id, path in Job.objects.values_list("case_id", "source_path").iterator(chunk_size=2000)
        if (name := source_name(path, root)) is not None
    }
    CaseSource.objects.bulk_create(
        [CaseSource(case_id=case_id, name=name) for case_id, name in sorted(scanned)], ignore_conflicts=True
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0013_job_case_required_no_shares"), ("cases", "0004_case_source")]

    operations = [migrations.RunPython(sources_of_their_cases, migrations.RunPython.noop)]
