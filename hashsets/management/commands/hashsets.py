"""`manage.py hashsets import FILE --name NAME --kind KIND [--category CODE] [--format FMT] [--as USER]`,
`hashsets list`, `hashsets enable|disable|delete NAME`: the lab's hash-set library at the command line.

An import shows its progress (a bar on a terminal, a line now and then otherwise), then the set's counts and the
malformed lines it met, each with its line number. Every change is audited as done at the command line (by `--as`,
the account recorded as the importer, where given)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from audit.services import acting_as, cli_actor
from evidence.display import display_text
from hashformats import FORMATS
from hashsets.models import HashSet
from hashsets.selectors import hash_set_by_name, hash_set_list
from hashsets.services import HashSetRefused, hash_set_delete, hash_set_enable, hash_set_import

# Malformed lines printed after an import (all are counted; the audit record keeps the first of them too).
MALFORMED_SHOWN = 50
PLAIN_INTERVAL = 5.0


class _Progress:
    """A bar over the file's bytes on a terminal (entries only, for a database); elsewhere a line every few
    seconds."""

    def __init__(self, command: BaseCommand, size: int) -> None:
        self.command, self.size, self.last = command, size, 0.0
        self.bar: Progress | None = None
        if command.stdout.isatty():
            self.bar = Progress(
                TextColumn("{task.fields[entries]} entries"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(file=command.stdout, force_terminal=True),
            )
            self.task = self.bar.add_task("import", total=size, entries=0)

    def __enter__(self) -> _Progress:
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.__exit__(*exc)

    def __call__(self, entries: int, position: int | None) -> None:
        if self.bar:
            self.bar.update(self.task, completed=position if position is not None else 0, entries=entries)
        elif time.monotonic() - self.last >= PLAIN_INTERVAL:
            self.last = time.monotonic()
            done = f" ({100 * position // max(self.size, 1)}% read)" if position is not None else ""
            self.command.stdout.write(f"  {entries} entries{done}")


class Command(BaseCommand):
    help = "Import, list, enable, disable and delete the hash sets every job is matched against."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        importing = actions.add_parser("import", help="import a hash list as a new set")
        importing.add_argument(
            "file",
            help="NSRL RDS v3 or NSRLFile.txt, VICS or CAID JSON, hashdeep, md5deep, CSV, "
            "a plain list, or a PDQ hash,quality list",
        )
        importing.add_argument("--name", required=True, help="the set's name (unique)")
        importing.add_argument("--kind", required=True, choices=HashSet.Kind.values)
        importing.add_argument("--category", default="", help="the category code its entries propose in a case")
        importing.add_argument("--format", default=None, choices=FORMATS, help="the file's format (default: detected)")
        importing.add_argument("--as", dest="user", default=None, help="username recorded as the importer")
        actions.add_parser("list", help="the sets, with their counts and source")
        for action in ("enable", "disable", "delete"):
            actions.add_parser(action, help=f"{action} a set").add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
            return
        user = None
        if options.get("user"):
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no such user: {options['user']}")
        with acting_as(cli_actor(user)):
            if action == "import":
                self._import(user, options)
                return
            hash_set = hash_set_by_name(options["name"])
            if hash_set is None:
                raise CommandError(f"no hash set named {options['name']!r}")
            if action == "delete":
                hash_set_delete(hash_set=hash_set)
            else:
                hash_set_enable(hash_set=hash_set, enabled=action == "enable")
            self.stdout.write(f"{action}d {display_text(hash_set.name)}")

    def _import(self, user: Any, options: dict[str, Any]) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {display_text(str(path))}")
        try:
            with _Progress(self, path.stat().st_size) as progress:
                report = hash_set_import(
                    path=path,
                    name=options["name"],
                    kind=options["kind"],
                    category=options["category"],
                    user=user,
                    format=options["format"],
                    progress=progress,
                )
        except HashSetRefused as refused:
            raise CommandError(display_text(str(refused))) from None
        except KeyboardInterrupt:
            raise CommandError("interrupted: the set and its entries were removed") from None
        hash_set = report.hash_set
        version = f", version {display_text(hash_set.version)}" if hash_set.version else ""
        self.stdout.write(
            f"imported {display_text(hash_set.name)} ({hash_set.kind}, {hash_set.source_format}{version}): "
            f"{hash_set.entries} entries, "
            f"{hash_set.malformed} malformed lines, source SHA-256 {hash_set.source_sha256}"
        )
        for malformed in report.malformed_lines[:MALFORMED_SHOWN]:
            self.stderr.write(f"  line {malformed.line}: {malformed.reason}")
        if hash_set.malformed > MALFORMED_SHOWN:
            self.stderr.write(f"  ... and {hash_set.malformed - MALFORMED_SHOWN} more malformed lines")

    def _list(self) -> None:
        for s in hash_set_list():
            self.stdout.write(
                f"{display_text(s.name)}\t{s.kind}\t{s.status}\t{'enabled' if s.enabled else 'disabled'}\t"
                f"{s.entries} entries\t{s.malformed} malformed\t{s.source_format}\t{display_text(s.version)}\t"
                f"{display_text(s.source_name)}\t{s.source_sha256}"
            )
