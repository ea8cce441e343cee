"""`manage.py portable_case --case REF -o DIR [--categories 1,2] [--bookmarked] [--user EMAIL]`: write a case's
portable case (reports.portable) into a new or empty folder, with a bar per image, and print the folder and the
SHA-256 of its SHA256SUMS. `--user` makes it as that member (their access is checked and they are on the record);
without it, as the operator at the command line."""

from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from audit.services import acting_as, cli_actor
from cases.selectors import case_by_reference
from jobs.access import verified_address_owners
from reports.portable import PortableRefused, PortableSelection, portable_case_write
from reports.portable_extras import portable_extra_files


class Command(BaseCommand):
    help = "Write a case's portable case (images, viewer, exports, SHA256SUMS) into a new folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
        parser.add_argument("-o", "--output", required=True, help="a new or empty folder, outside the evidence")
        parser.add_argument("--categories", default="", help="category codes, comma-separated (default: every one)")
        parser.add_argument("--bookmarked", action="store_true", help="the bookmarked images (with --categories too)")
        parser.add_argument("--user", default="", help="the member making it: user name or verified address")

    def handle(self, *args: Any, **options: Any) -> None:
        case = None if "\x00" in options["case"] else case_by_reference(reference=options["case"])
        if case is None:
            raise CommandError(f"no such case: {options['case']}")
        if "\x00" in options["output"]:
            raise CommandError(f"cannot write {options['output']!r}: a folder name has no NUL byte")
        user = self._user(options["user"]) if options["user"] else None
        codes = tuple(code.strip() for code in options["categories"].split(",") if code.strip())
        selection = PortableSelection(categories=codes, bookmarked=options["bookmarked"])
        console = Console(file=sys.stderr)
        bar = Progress(
            TextColumn("images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
            disable=not sys.stderr.isatty(),
        )  # fmt: skip
        task = bar.add_task("images", total=None)
        with acting_as(cli_actor(user)), bar:
            try:
                result = portable_case_write(
                    case=case, user=user, destination=options["output"], selection=selection,
                    extra_files=portable_extra_files(case=case, user=user),
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
            except PortableRefused as exc:
                raise CommandError(str(exc)) from None
        for sha256, why in result.unavailable:
            self.stderr.write(f"not copied: {sha256}: {why}")
        self.stdout.write(f"{result.destination}")
        self.stdout.write(f"{result.images} images; SHA256SUMS {result.sha256sums}")

    @staticmethod
    def _user(name: str):
        named = get_user_model().objects.filter(Q(username=name) | Q(pk__in=verified_address_owners(email=name)))
        users = list(named.distinct()[:2])
        if len(users) != 1:
            raise CommandError(f"no single user with user name or verified address {name!r}")
        if not users[0].is_active:
            raise CommandError(f"{name} is deactivated")
        return users[0]
