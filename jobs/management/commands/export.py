"""`manage.py export JOB_ID --format jsonl|csv [-o FILE]`: one record per file instance (a stable contract)."""

from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import audit_record, cli_actor
from jobs.models import Job
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export


class Command(BaseCommand):
    help = "Export every file instance of a job (path, status, error, hashes, image facts, EXIF summary)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int)
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = Job.objects.get(pk=options["job_id"])
        except Job.DoesNotExist:
            raise CommandError(f"no such job: {options['job_id']}") from None
        records = file_instances_for_export(job=job)
        if options["output"] == "-":
            count = self._write(self.stdout, records, options["format"])
        else:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                count = self._write(out, records, options["format"])
            self.stderr.write(f"{count} records written to {options['output']}")
        fmt, output = options["format"], options["output"]
        audit_record(
            "job.export", actor=cli_actor(), job_id=job.pk, target=job.name, format=fmt, output=output, records=count
        )

    @staticmethod
    def _write(out: Any, records: Any, fmt: str) -> int:
        count = 0
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="raise")
            writer.writeheader()
            for record in records:
                writer.writerow(record)
                count += 1
        else:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        return count
