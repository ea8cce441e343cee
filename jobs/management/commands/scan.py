"""`manage.py scan PATH [--name] [--owner] [--case REF [--exhibit EX]]`: run a whole job on a folder, following its
progress until it ends. With --case the job is one of the case REF (made, with the owner as lead, when new; where it
exists, the owner must be its lead or an examiner); without, a case of its own. The operator may scan any folder;
with --owner, the owner must be one who may scan into that case (jobs.selectors.source_list) the source that a
folder inside SOURCES_ROOT lies in, or every source of a folder that holds SOURCES_ROOT; else the command refuses,
on the record."""

from __future__ import annotations

import argparse
import contextvars
import sys
import threading
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent
from audit.services import acting_as, audit_record, cli_actor
from cases.models import Case
from cases.selectors import case_by_reference
from cases.services import CaseRefused, case_create
from jobs.lifecycle import StartOutcome, job_cancel, job_fail, job_start
from jobs.models import FileInstance, Job
from jobs.progress.publisher import progress_flush
from jobs.progress.snapshot import job_progress_snapshot
from jobs.progress.terminal import ProgressView
from jobs.progress.waiting import job_waits
from jobs.search import job_faces_found
from jobs.selectors import source_list, sources_held
from jobs.services import CaseRefusedForJob, SourceError, job_create, source_resolve


class OwnerRefused(Exception):
    """The job's owner may not scan the folder named, into the case named."""


class Command(BaseCommand):
    help = "Scan a folder: discover every file, hash it, read image metadata and run the analysis stages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="folder to scan (read-only: nothing in it is ever changed)")
        parser.add_argument("--name", default="", help="job name (default: the folder's name)")
        parser.add_argument("--owner", default=None, help="username of the job's owner")
        parser.add_argument("--description", default="")
        parser.add_argument("--case", default=None, help="case reference (e.g. 2024-017): made when new")
        parser.add_argument("--exhibit", default="", help="the exhibit the folder is, in the case")
        parser.add_argument(
            "--stages", default=None, help="comma-separated stages to run (default: SCAN_STAGES, e.g. exif,faces)"
        )
        parser.add_argument("--poll", type=float, default=0.25, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        self._migrated()
        owner = None
        if options["owner"]:
            try:
                owner = get_user_model().objects.get(username=options["owner"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"no such user: {options['owner']}") from None
        # The operator at the command line acts; the owner is whom the job is for (it is in the job's record).
        with acting_as(cli_actor()):
            try:
                self._scan(owner, options)
            finally:
                progress_flush()  # the browsers watching the job get what this process changed last

    def _migrated(self) -> None:
        """The embedded database belongs to this installation: bring it up to date (a first run creates it). A
        shared server database is migrated by its operator: say so in one line rather than fail mid-scan."""
        executor = MigrationExecutor(connection)
        if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
            return
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("the database is not migrated: run python manage.py migrate first")
        self.stdout.write("migrating the embedded database (first run or after an upgrade)")
        call_command("migrate", database=DEFAULT_DB_ALIAS, verbosity=0, interactive=False)

    def _case(self, owner: Any, options: dict[str, Any]) -> Case | None:
        """The case named by --case, made (the owner its lead) when there is none of that reference yet."""
        if options["case"] is None:
            return None
        case = case_by_reference(reference=options["case"])
        if case is not None:
            return case
        try:
            return case_create(reference=options["case"], title=options["case"], owner=owner)
        except CaseRefused as exc:
            raise CommandError(str(exc)) from None

    def _owner_may_scan(self, owner: Any, case: Case | None, path: str) -> None:
        """OwnerRefused when the folder lies in, or holds, a source (of SOURCES_ROOT) that the owner may not scan
        into `case`. A folder elsewhere is the operator's to name, as it is with no owner."""
        if owner is None:
            return
        held = sources_held(source_resolve(path))
        allowed = set(source_list(user=owner, case=case)) if held else set()
        refused = [name for name in held if name not in allowed]
        if refused:
            where = f"case {case.reference}" if case is not None else "a case they lead or examine in"
            what = f"source {refused[0]!r}" if held == refused[:1] else f"it holds source {refused[0]!r}, which"
            raise OwnerRefused(f"{owner.get_username()} may not scan {path}: {what} is not assigned to {where}")

    def _scan(self, owner: Any, options: dict[str, Any]) -> None:
        stages = [s for s in options["stages"].split(",") if s] if options["stages"] is not None else None
        if len(options["exhibit"]) > (longest := Job._meta.get_field("exhibit").max_length):
            raise CommandError(f"an exhibit reference has at most {longest} characters")
        try:
            with transaction.atomic():  # a new case is made with its first job, or not at all
                case = self._case(owner, options)
                self._owner_may_scan(owner, case, options["path"])
                job = job_create(
                    name=options["name"],
                    source_path=options["path"],
                    owner=owner,
                    description=options["description"],
                    stages=stages,
                    case=case,
                    exhibit=options["exhibit"],
                )
        except (OwnerRefused, CaseRefusedForJob) as exc:  # recorded once the new case, if any, is rolled back
            audit_record("job.create", outcome=AuditEvent.Outcome.REFUSED, detail=str(exc), source=options["path"],
                         owner=options["owner"] or "", case=options["case"] or "")  # fmt: skip
            raise CommandError(str(exc)) from None
        except (SourceError, KeyError) as exc:
            raise CommandError(str(exc).strip("'\"")) from None

        view = ProgressView(self.stdout, tty=self.stdout.isatty(), job_id=job.pk, source=job.source_path)
        crashed: list[BaseException] = []
        refused: list[StartOutcome] = []

        def start() -> None:
            # In the embedded configuration the whole canvas runs here, in-process; otherwise this only queues it.
            try:
                outcome = job_start(job=job)
                if not outcome.started:  # the source folder went away since it was checked: the job stays created
                    refused.append(outcome)
            except BaseException as exc:  # noqa: BLE001 - reported below, and the job marked failed
                crashed.append(exc)
                job_fail(job_id=job.pk, error=f"{type(exc).__name__}: {exc}")
            finally:
                connection.close()

        # The thread acts for the same user, in the audit log, as this one (a new thread starts with no context).
        context = contextvars.copy_context()
        runner = threading.Thread(target=context.run, args=(start,), name=f"job-{job.pk}", daemon=True)
        started = time.monotonic()
        runner.start()
        waits: list[str] = []
        try:
            with view:
                while True:
                    snapshot = job_progress_snapshot(job_id=job.pk)
                    view.update(snapshot)
                    waits = self._waits(job, waits)
                    if (snapshot["status"] in Job.FINAL or refused) and not runner.is_alive():
                        break
                    runner.join(timeout=options["poll"])
        except KeyboardInterrupt:
            job_cancel(job=job)
            self.stderr.write(f"job {job.pk} cancelled")
            runner.join()
            sys.exit(130)

        snapshot = job_progress_snapshot(job_id=job.pk)
        self._summary(snapshot, time.monotonic() - started)
        if crashed:
            raise CommandError(f"job {job.pk} failed: {crashed[0]}")
        if refused:
            raise CommandError(f"job {job.pk} cannot start: {refused[0].result}")
        if snapshot["status"] != Job.Status.COMPLETED:
            raise CommandError(f"job {job.pk} {snapshot['status']}: {snapshot['error']}")

    def _waits(self, job: Job, shown: list[str]) -> list[str]:
        """Say what the job waits for that no worker will bring (from its first moments on: a queue nobody
        consumes), and when that is over. Returns what is shown now."""
        job.refresh_from_db(fields=["status", "discovery_finished"])
        waits = job_waits(job=job)
        for wait in waits:
            if wait not in shown:
                self.stderr.write(f"job {job.pk}: waiting: {wait}")
        for wait in shown:
            if wait not in waits:
                self.stderr.write(f"job {job.pk}: no longer waiting: {wait}", style_func=lambda text: text)
        return waits

    def _summary(self, s: dict[str, Any], elapsed: float) -> None:
        write = self.stdout.write
        rate = s["files_seen"] / elapsed if elapsed > 0 else 0.0
        write(f"job {s['job']}: {s['status']}")
        write(
            f"  files seen {s['files_seen']}  images {s['images']} ({s['distinct_images']} distinct)  "
            f"skipped {s['skipped']}  errors {s['errors']}  "
            f"{s['bytes_seen'] / 1e6:.1f} MB in {elapsed:.1f} s ({rate:.0f} files/s)"
        )
        for stage in s["stages"]:
            line = (
                f"  {stage['summary']:<20} done {stage['done']}  failed {stage['failed']}  skipped {stage['skipped']}"
            )
            if stage["stage"] == "faces" and stage["done"]:
                line += f"  faces found {job_faces_found(job=Job.objects.get(pk=s['job']))}"
            if stage["reused"]:
                line += f"  (reused {stage['reused']} earlier results)"
            if stage["unavailable"]:
                line += f"  UNAVAILABLE for {stage['unavailable']}: {stage['message']}"
            write(line)
        errors = Counter(
            FileInstance.objects.filter(job_id=s["job"], status=FileInstance.Status.ERROR).values_list(
                "error", flat=True
            )
        )
        for message, count in errors.most_common(10):
            write(f"  error x{count}: {message}")
        write(f"export: python manage.py export {s['job']} --format jsonl -o job-{s['job']}.jsonl")
