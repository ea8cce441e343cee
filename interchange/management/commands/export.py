"""`manage.py export JOB_ID --format jsonl|csv [--raw] [-o FILE]`: one record per file instance (a stable contract);
`manage.py export JOB_ID --format vics|case [-o FILE]` and `manage.py export --case REF --format vics|case [-o FILE]`:
the categorised media of the job or of the whole case as Project VIC VICS JSON, or the files, the provenance of
every result and the examiners' actions as CASE/UCO JSON-LD (interchange.vics, interchange.caseuco)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from audit.services import acting_as, audit_record, cli_actor
from cases.models import Case
from interchange.selectors import ExportScope
from interchange.services import ExportRefused, export_check, export_write
from jobs.models import Job
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from records.formats import FORMATS as RECORD_FORMATS
from records.formats import records_arguments_add, records_save

OTHER_FORMATS = ("vics", "case")


class _Unended:
    """The command's standard output written as it is given (OutputWrapper ends every write with a line end)."""

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(text, ending="")
        return len(text)


@contextmanager
def _opened(output: str, stdout: OutputWrapper):
    if output == "-":
        yield _Unended(stdout)
        return
    try:
        out: TextIO = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror or error}") from None
    with out:
        yield out


class Command(BaseCommand):
    help = (
        "Export every file instance of a job (path, status, error, hashes, image facts, EXIF summary) as JSON lines or "
        "CSV; or the categorised media of a job or case as VICS JSON, or its files, results' provenance and "
        "examiners' actions as CASE/UCO JSON-LD."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int, nargs="?", help="the job (optional with --case for vics and case)")
        parser.add_argument("--case", default=None, help="the case's reference: export every job of it (vics, case)")
        records_arguments_add(parser, other_formats=OTHER_FORMATS)
        parser.add_argument(
            "--unconfirmed",
            action="store_true",
            help="VICS: also the images whose category is only proposed or in dispute",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fmt, job_id, reference = options["format"], options["job_id"], options["case"]
        if "\x00" in options["output"]:
            raise CommandError(f"cannot write {options['output']!r}: a file name has no NUL byte")
        if fmt in RECORD_FORMATS:
            if job_id is None or reference is not None:
                raise CommandError(f"--format {fmt} exports one job: name its JOB_ID (and no --case)")
            self._records(job_id, fmt, options)
            return
        if options["raw"]:
            raise CommandError("--raw is for --format csv")
        if options["unconfirmed"] and fmt != "vics":
            raise CommandError("--unconfirmed is for --format vics")
        scope = self._scope(job_id, reference)
        with acting_as(cli_actor()):
            try:
                export_check(scope=scope, fmt=fmt)
            except ExportRefused as error:
                raise CommandError(str(error)) from None
            with _opened(options["output"], self.stdout) as out:
                result = export_write(
                    scope=scope, fmt=fmt, out=out, unconfirmed=options["unconfirmed"],
                    audited={"output": options["output"]},
                )  # fmt: skip
        if options["output"] != "-":
            self.stderr.write(f"{result.records} records written to {options['output']} (SHA-256 {result.sha256})")

    def _scope(self, job_id: int | None, reference: str | None) -> ExportScope:
        if job_id is None and reference is None:
            raise CommandError("name a JOB_ID or a --case")
        case = None
        if reference is not None:
            found = "\x00" not in reference  # no reference holds one (PostgreSQL text cannot)
            case = Case.objects.filter(reference=reference.strip()).select_related("scheme").first() if found else None
            if case is None:
                raise CommandError(f"no such case: {reference!r}" if not found else f"no such case: {reference}")
        if job_id is None:
            return ExportScope(case=case)
        job = Job.objects.filter(pk=job_id).select_related("case__scheme").first()
        if job is None:
            raise CommandError(f"no such job: {job_id}")
        if case is not None and job.case_id != case.pk:
            raise CommandError(f"job {job_id} is not in case {case.reference}")
        return ExportScope(case=job.case, job=job)

    def _records(self, job_id: int, fmt: str, options: dict[str, Any]) -> None:
        try:
            job = Job.objects.get(pk=job_id)
        except Job.DoesNotExist:
            raise CommandError(f"no such job: {job_id}") from None
        records = file_instances_for_export(job=job)
        output = options["output"]
        try:
            count = records_save(output, records, fmt=fmt, fields=EXPORT_FIELDS, stdout=self.stdout, raw=options["raw"])
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror or error}") from None
        if output != "-":
            self.stderr.write(f"{count} records written to {output}")
        audit_record(
            "job.export", actor=cli_actor(), job_id=job.pk, target=job.name, format=fmt, output=output, records=count
        )
