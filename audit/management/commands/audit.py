"""`manage.py audit [--job ID] [--user EMAIL] [--since WHEN] [--until WHEN] [--format jsonl|csv] [--raw] [-o FILE]`:
the audit log, oldest first, for a case file or a review. The export is itself recorded.

`manage.py audit seal`: seal every event not yet sealed into the log's hash chain (audit.chain).

`manage.py audit verify`: seal what is not yet sealed, walk the log's hash chain (audit.chain) and print its head, or
the first broken link and exit with status 1. The verification is itself recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import get_current_timezone, is_naive, make_aware
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from audit.chain import audit_chain_seal
from audit.selectors import AUDIT_FIELDS, audit_chain_head, audit_chain_verify, audit_events_for_export
from audit.services import audit_record, cli_actor
from records.formats import records_arguments_add, records_save


def _when(value: str | None) -> datetime | None:
    """A date (its midnight) or a date and time, in the server's time zone unless it names one."""
    if not value:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"not a date or date and time: {value!r} (e.g. 2026-11-30 or 2026-11-30T14:00)")
    return make_aware(moment, get_current_timezone()) if is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Export the audit log (who did what, when, from where, allowed or not), oldest first; or (verify) check its "
        "hash chain, or (seal) seal the events not yet in it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            nargs="?",
            choices=["export", "verify", "seal"],
            default="export",
            help="export (default), verify or seal",
        )
        parser.add_argument("--job", type=int, default=None, help="only this job's events")
        parser.add_argument("--user", default="", help="only this account's events (its email or user name)")
        parser.add_argument("--since", default=None, help="from this date or date and time on")
        parser.add_argument("--until", default=None, help="before this date or date and time")
        records_arguments_add(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify()
            return
        if options["action"] == "seal":
            self.stdout.write(f"sealed {audit_chain_seal(wait=True)} events")
            return
        since, until = _when(options["since"]), _when(options["until"])
        records = audit_events_for_export(job_id=options["job"], username=options["user"], since=since, until=until)
        fmt, output = options["format"], options["output"]
        count = records_save(output, records, fmt=fmt, fields=AUDIT_FIELDS, stdout=self.stdout, raw=options["raw"])
        if output != "-":
            self.stderr.write(f"{count} events written to {output}")
        asked = {key: options[key] for key in ("user", "since", "until") if options[key]}
        audit_record(
            "audit.export", actor=cli_actor(), job_id=options["job"], format=fmt, output=output, records=count, **asked
        )

    def _verify(self) -> None:
        sealed = audit_chain_seal(wait=True)
        if sealed:
            self.stdout.write(f"sealed {sealed} events")
        head = audit_chain_head()
        total = head.seq if head else 0
        if self.stdout.isatty() and total:
            bar = Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stdout, force_terminal=True),
            )
            task = bar.add_task("verify", total=total)
            with bar:
                check = audit_chain_verify(progress=lambda walked: bar.update(task, completed=walked))
        else:
            check = audit_chain_verify()
        self.stdout.write(f"{check.events} events verified")
        if check.head:
            self.stdout.write(f"chain head: seq {check.head.seq} hash {check.head.hash} at {check.head.at.isoformat()}")
        if check.unsealed:
            self.stdout.write(f"{check.unsealed} events recorded since are not sealed yet")
        broken = check.broken
        audit_record(
            "audit.verify",
            actor=cli_actor(),
            outcome="failed" if broken else "ok",
            detail=f"seq {broken.seq}, event {broken.event_id}: {broken.problem}" if broken else "",
            events=check.events,
            head=check.head.hash if check.head else "",
        )
        if broken:
            raise CommandError(f"the chain is broken at seq {broken.seq} (event {broken.event_id}): {broken.problem}")
