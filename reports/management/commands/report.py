"""`manage.py report (--case REF | --job ID) --format html|pdf -o FILE [--sections a,b,...] [--reveal-sensitive]
[--user EMAIL]`: a case report, written to FILE, its SHA-256 printed (and recorded in the audit log).

`manage.py report --job ID --manifest -o FILE` writes the job's source manifest, whose SHA-256 the report gives.

With `--user`, the report is made as that member (by user name or verified address): only a case they may see, as in
the web app. Without it, as the operator at the command line, who may read every case (as `manage.py export`)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from audit.models import AuditEvent
from audit.services import acting_as, audit_record, cli_actor
from cases.models import Case
from jobs.access import verified_address_owners
from jobs.models import Job
from reports.build import FORMATS, SECTIONS, sections_parse
from reports.selectors import manifest_lines, scope_of
from reports.services import ReportRefused, report_scope_for, report_write

PLAIN_INTERVAL = 5.0
# The build's stages besides its sections (reports.build).
STAGES = {"reading": "Reading", "thumbnails": "Thumbnails", "html": "Rendering the HTML", "pdf": "Rendering the PDF"}


class _Bar:
    """The build's stages and, while thumbnails are made, one step per image: a bar on a terminal, elsewhere a line
    every few seconds."""

    def __init__(self, command: BaseCommand) -> None:
        self.command, self.last, self.stage = command, 0.0, ""
        self.bar: Progress | None = None
        if command.stderr.isatty():
            self.bar = Progress(
                TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=Console(file=command.stderr._out, force_terminal=True),
            )  # fmt: skip
            self.task = self.bar.add_task("reading", total=None)

    def __enter__(self) -> _Bar:
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        label = SECTIONS.get(stage) or STAGES.get(stage, stage)
        if self.bar:
            if stage != self.stage:
                self.bar.reset(self.task, total=total, description=label)
            self.bar.update(self.task, completed=done, total=total)
        elif stage != self.stage or time.monotonic() - self.last >= PLAIN_INTERVAL:
            self.last = time.monotonic()
            self.command.stderr.write(f"  {label}: {done}/{total}")
        self.stage = stage


def _user(name: str) -> AbstractBaseUser:
    named = get_user_model().objects.filter(Q(username=name) | Q(pk__in=verified_address_owners(email=name)))
    users = list(named.distinct()[:2])
    if len(users) != 1 or not users[0].is_active:
        audit_record("report.create", outcome=AuditEvent.Outcome.REFUSED, actor=cli_actor(), target=name[:255],
                     detail="no single active user of that name or verified address")  # fmt: skip
        raise CommandError(f"no single active user with user name or verified address {name!r}")
    return users[0]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _output_check(output: Path) -> None:
    """Refuse an output that is a folder, or that lies in evidence: under SOURCES_ROOT or any job's source."""
    if output.is_dir():
        raise CommandError(f"{output} is a folder: name the file to write")
    where = os.path.realpath(output)
    sources = [str(settings.SOURCES_ROOT), *Job.objects.values_list("source_path", flat=True).distinct()]
    for source in sources:
        if source and _inside(where, os.path.realpath(source)):
            raise CommandError(f"{output} lies in evidence ({source}): write the report elsewhere")


class Command(BaseCommand):
    help = "Make a case report (HTML or PDF) of a case or a job, or write a job's source manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--case", default=None, help="the case's reference (e.g. 2024-017)")
        scope.add_argument("--job", type=int, default=None, help="one job's id")
        parser.add_argument("--format", choices=FORMATS, default="html")
        parser.add_argument("-o", "--output", required=True, help="the file to write")
        parser.add_argument("--sections", default="", help=f"comma-separated, of: {','.join(SECTIONS)} (default all)")
        parser.add_argument(
            "--reveal-sensitive", action="store_true",
            help="thumbnails of sensitive categories and hash-flagged images unblurred (audited)",
        )  # fmt: skip
        parser.add_argument("--user", default="", help="make it as this member (user name or verified address)")
        parser.add_argument("--manifest", action="store_true", help="write the job's source manifest (with --job)")

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        if not output.parent.is_dir():
            raise CommandError(f"no such folder: {output.parent}")
        _output_check(output)
        try:
            sections = sections_parse(options["sections"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        user = _user(options["user"]) if options["user"] else None
        with acting_as(cli_actor(user)):
            if options["manifest"]:
                return self._manifest(options["job"], output, user)
            try:
                if user is not None:
                    scope = report_scope_for(user=user, job_id=options["job"], reference=options["case"] or "")
                else:
                    scope = self._operator_scope(options["case"], options["job"])
                with _Bar(self) as bar:
                    written = report_write(
                        scope=scope, sections=sections, fmt=options["format"], reveal=options["reveal_sensitive"],
                        requester=getattr(user, "email", "") or cli_actor().client, target=output, progress=bar,
                    )  # fmt: skip
            except ReportRefused as exc:
                raise CommandError(str(exc)) from None
        self.stderr.write(f"{options['format']} report written to {output} ({written.size} bytes)")
        self.stdout.write(f"{written.sha256}  {output}")

    def _operator_scope(self, reference: str | None, job_id: int | None):
        if job_id is not None:
            job = Job.objects.select_related("case").filter(pk=job_id).first() if 0 < job_id < 2**63 else None
            if job is None:
                raise ReportRefused(f"no such job: {job_id}")
            return scope_of(case=job.case, job=job)
        case = Case.objects.filter(reference=(reference or "").strip()).first()
        if case is None:
            raise ReportRefused(f"no such case: {reference!r}")
        return scope_of(case=case)

    def _manifest(self, job_id: int | None, output: Path, user: AbstractBaseUser | None) -> None:
        if job_id is None:
            raise CommandError("--manifest needs --job")
        try:
            scope = report_scope_for(user=user, job_id=job_id) if user else self._operator_scope(None, job_id)
        except ReportRefused as exc:
            raise CommandError(str(exc)) from None
        digest = hashlib.sha256()
        with open(output, "wb") as out:
            for line in manifest_lines(scope.job):
                out.write(line)
                digest.update(line)
        audit_record("job.manifest", job_id=job_id, target=str(output)[:255], sha256=digest.hexdigest())
        self.stdout.write(f"{digest.hexdigest()}  {output}")
