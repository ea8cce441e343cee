"""`manage.py verify JOB [--as MEMBER] [-o FILE [--format csv|jsonl] [--raw]]`: read a job's source again and compare
every entry with the job's manifest, with a progress bar and a summary; the run is kept and audited. The operator at
the command line may verify any job (as `scan` and `export` may read any); `--as` acts as a member of the job's case,
whose rights are checked, a refusal on the record. Exit status: 0 when every entry is verified, 2 when
some are not (listed in FILE), 1 on an error or a refusal."""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from audit.models import AuditEvent
from audit.services import acting_as, audit_record, cli_actor
from jobs.access import verified_address_owners
from records.formats import FORMATS, records_save
from verification.access import NotFound, verification_job_for_user
from verification.models import VerificationRun
from verification.selectors import FILE_FIELDS, verification_records
from verification.services import COUNTS, VerificationRefused, verification_execute, verification_start

PLAIN_INTERVAL = 5.0
NOT_VERIFIED_STATUS = 2


class Command(BaseCommand):
    help = "Re-verify a job's evidence: read its source again and compare every file with the job's manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job", help="the job's id")
        parser.add_argument(
            "--as", dest="member", default=None, help="act as this member of the job's case (user name or address)"
        )
        parser.add_argument("-o", "--output", default=None, help="write every entry not verified to this file")
        parser.add_argument("--format", choices=FORMATS, default=None, help="of --output (default: by its suffix)")
        parser.add_argument("--raw", action="store_true", help="CSV: values exactly, formulas included (programs)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job_id = int(options["job"])
        except ValueError:
            raise CommandError(f"not a job id: {options['job']!r}") from None
        member = self._member(options["member"]) if options["member"] else None
        with acting_as(cli_actor(member)) as actor:
            try:
                job = verification_job_for_user(user=member, job_id=job_id, action="verify.start")
            except NotFound as exc:
                raise CommandError(str(exc)) from None
            if options["output"]:
                _output_checked(options["output"], job)
            try:
                run = verification_start(job=job, actor=actor)
            except VerificationRefused as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"job {job.pk}: verifying {run.expected} entries of {job.source_path}")
            started = time.monotonic()
            run = self._run(run)
        self._summary(run, time.monotonic() - started)
        if options["output"]:
            fmt = options["format"] or ("csv" if options["output"].lower().endswith(".csv") else "jsonl")
            count = records_save(options["output"], verification_records(run=run), fmt=fmt, fields=FILE_FIELDS,
                                 stdout=self.stdout, raw=options["raw"])  # fmt: skip
            self.stderr.write(f"{count} entries not verified written to {options['output']}")
        if run.status != VerificationRun.Status.DONE:
            raise CommandError(f"verification {run.pk} failed: {run.error}")
        if run.not_verified:
            raise CommandError(f"{run.not_verified} entries not verified", returncode=NOT_VERIFIED_STATUS)

    def _member(self, name: str) -> Any:
        named = get_user_model().objects.filter(Q(username=name) | Q(pk__in=verified_address_owners(email=name)))
        users = list(named.distinct()[:2])
        if len(users) != 1 or not users[0].is_active:
            why = f"no single active user with user name or verified address {name!r}"
            audit_record("verify.start", outcome=AuditEvent.Outcome.REFUSED, actor=cli_actor(), detail=why)
            raise CommandError(why)
        return users[0]

    def _run(self, run: VerificationRun) -> VerificationRun:
        if not self.stdout.isatty():
            last = [time.monotonic()]

            def plain(now: VerificationRun) -> None:
                if time.monotonic() - last[0] >= PLAIN_INTERVAL:
                    last[0] = time.monotonic()
                    self.stdout.write(f"  {now.checked}/{now.expected} checked, {now.not_verified} not verified")

            return verification_execute(run_id=run.pk, on_progress=plain) or run
        progress = Progress(
            SpinnerColumn(),
            TextColumn("verify"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stdout, force_terminal=True),
        )
        with progress:
            bar = progress.add_task("verify", total=run.expected, detail="")

            def update(now: VerificationRun) -> None:
                progress.update(bar, completed=now.checked, total=max(now.expected, now.checked),
                                detail=f"not verified {now.not_verified}")  # fmt: skip

            return verification_execute(run_id=run.pk, on_progress=update) or run

    def _summary(self, run: VerificationRun, elapsed: float) -> None:
        table = Table(title=f"verification {run.pk} of job {run.job_number}: {run.status} in {elapsed:.1f} s")
        table.add_column("outcome")
        table.add_column("entries", justify="right")
        for name in COUNTS:
            table.add_row(name.replace("_", " "), str(getattr(run, name)))
        Console(file=self.stdout, force_terminal=self.stdout.isatty(), width=100).print(table)


def _output_checked(output: str, job: Any) -> None:
    """CommandError, before any run, unless `output` can be written: a file (not a folder) in a folder that exists
    and may be written, neither in the job's source nor under SOURCES_ROOT (evidence is never written to)."""
    path = os.path.realpath(output)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise CommandError(f"{output} is a folder: name a file to write")
    if not os.path.isdir(folder):
        raise CommandError(f"{output}: its folder does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise CommandError(f"{output} cannot be written")
    for evidence in (job.source_path, os.path.realpath(settings.SOURCES_ROOT)):
        if os.path.commonpath([evidence, path]) == evidence:
            raise CommandError(f"{output} lies in the evidence (the job's source or the sources folder)")
