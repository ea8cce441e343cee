"""`manage.py export JOB_ID --format jsonl|csv [--raw] [-o FILE]`: one record per file instance (a stable contract)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import audit_record, cli_actor
from jobs.models import Job
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from records.formats import records_arguments_add, records_save


class Command(BaseCommand):
    help = "Export every file instance of a job (path, status, error, hashes, image facts, EXIF summary)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int)
        records_arguments_add(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = Job.objects.get(pk=options["job_id"])
        except Job.DoesNotExist:
            raise CommandError(f"no such job: {options['job_id']}") from None
        records = file_instances_for_export(job=job)
        fmt, output = options["format"], options["output"]
        count = records_save(output, records, fmt=fmt, fields=EXPORT_FIELDS, stdout=self.stdout, raw=options["raw"])
        if output != "-":
            self.stderr.write(f"{count} records written to {output}")
        audit_record(
            "job.export", actor=cli_actor(), job_id=job.pk, target=job.name, format=fmt, output=output, records=count
        )
