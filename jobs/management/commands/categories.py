"""`manage.py categories list|set --case REF`: the categories of a case's images at the command line.

`list` prints what the case records about its images (those with a category, a bookmark or a note); `set` puts
images in a category of the case's scheme as the member `--as` names (by user name or verified address; the
reviewer's read-only role and the four-eyes rules are that member's), audited as done at the command line by that
member. Nothing confirms a proposal here: whoever runs a command may name any member, so a second pair of eyes is
someone signed in (the web app or the gRPC API with their own token).

Images are named by SHA-256 (arguments, or `--from-file`: one a line, the first word of each, so that `sha256sum`
output is taken as it is); one the case's jobs did not find is refused, whether or not another case holds it. Every
refusal is on the record."""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from audit.models import AuditEvent
from audit.services import acting_as, audit_record, cli_actor
from cases.models import Case
from cases.selectors import case_by_reference
from jobs.access import verified_address_owners
from jobs.selectors import case_images_by_sha256, case_images_page
from records.formats import records_write
from review.selectors import image_reviews, review_decided
from review.services import CategoryUnknown, ReviewOutcome, ReviewRefused, category_set

# Images read at a time by `list`.
BATCH = 2000
LIST_FIELDS = ["sha256", "image_id", "category", "status", "disputed", "set_by", "confirmed_by", "bookmarked_by",
               "notes"]  # fmt: skip


def _refused(case: Case | None, why: str, reference: str = "") -> CommandError:
    audit_record("review.category.set", outcome=AuditEvent.Outcome.REFUSED, actor=cli_actor(),
                 target=case.reference if case else reference, detail=why)  # fmt: skip
    return CommandError(why)


def _member(case: Case, name: str) -> AbstractBaseUser:
    """The user `name` names: their user name, or an address they verified (only a verified address names a user)."""
    named = get_user_model().objects.filter(Q(username=name) | Q(pk__in=verified_address_owners(email=name)))
    users = list(named.distinct()[:2])
    if len(users) != 1:
        raise _refused(case, f"no single user with user name or verified address {name!r}")
    if not users[0].is_active:
        raise _refused(case, f"{name} is deactivated")
    return users[0]


def _digests(options: dict[str, Any]) -> list[str]:
    digests = list(options["sha256"])
    if options["from_file"]:
        try:
            with open(options["from_file"], encoding="utf-8") as fp:
                lines = fp.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {options['from_file']}: {exc}") from None
        digests += [line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not digests:
        raise CommandError("name the images: SHA-256 arguments or --from-file FILE")
    return digests


class Command(BaseCommand):
    help = "List and set the categories of a case's images."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="what the case records about its images")
        listing.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
        listing.add_argument("--json", action="store_true", help="JSON lines, with bookmarks and notes in full")
        listing.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
        change = actions.add_parser("set", help="put images in a category")
        change.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
        change.add_argument("--category", required=True, help="a code of the case's scheme")
        change.add_argument("--as", dest="member", required=True, help="the member acting: user name or address")
        change.add_argument("--from-file", default=None, help="a file of SHA-256s, one a line")
        change.add_argument("sha256", nargs="*", help="SHA-256 of an image of the case")

    def handle(self, *args: Any, **options: Any) -> None:
        case = None if "\x00" in options["case"] else case_by_reference(reference=options["case"])
        if case is None:
            if options["action"] == "list":
                raise CommandError(f"no such case: {options['case']}")
            raise _refused(None, f"no such case: {options['case']}", reference=options["case"])
        if options["action"] == "list":
            listed = self._list(case, as_json=options["json"], batch=options["batch"])
            audit_record("review.list", actor=cli_actor(), target=case.reference, images=listed)
            return
        member = _member(case, options["member"])
        with acting_as(cli_actor(member)):
            self._change(case, member, options)

    def _list(self, case: Case, *, as_json: bool, batch: int) -> int:
        """Print the case's images with a category, a bookmark or a note; returns how many."""
        listed, after, decided = 0, 0, review_decided(case=case)
        while images := case_images_page(case_id=case.pk, after=after, limit=batch, where=decided):
            after = images[-1][0]
            reviews = image_reviews(case_id=case.pk, image_ids=[image_id for image_id, _ in images])
            rows = [(image_id, digest, reviews[image_id]) for image_id, digest in images if image_id in reviews]
            listed += len(rows)
            if as_json:
                records = (
                    {
                        "sha256": digest, "image_id": image_id, "category": r.category, "status": r.status,
                        "disputed": r.disputed, "set_by": r.set_by, "confirmed_by": r.confirmed_by,
                        "bookmarked_by": list(r.bookmarked_by),
                        "notes": [{"by": n.by, "at": n.at.isoformat(), "text": n.text} for n in r.notes],
                    }
                    for image_id, digest, r in rows
                )  # fmt: skip
                records_write(self.stdout, records, fmt="jsonl", fields=LIST_FIELDS)
                continue
            for _, digest, r in rows:
                status = r.status + (", disputed" if r.disputed else "")
                by = r.set_by + (f" (confirmed by {r.confirmed_by})" if r.confirmed_by else "")
                self.stdout.write("\t".join((digest, r.category or "-", status or "-", by or "-")))
        return listed

    def _change(self, case: Case, member: AbstractBaseUser, options: dict[str, Any]) -> None:
        digests = _digests(options)
        try:
            found = case_images_by_sha256(case_id=case.pk, sha256s=digests)
        except ValueError as exc:
            raise _refused(case, str(exc)) from None
        missing = sorted({d.strip().lower() for d in digests} - set(found))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise _refused(case, f"no image {missing[0]}{more} in case {case.reference}: nothing changed")
        try:
            outcome = category_set(case=case, user=member, code=options["category"], image_ids=found.values())
        except (CategoryUnknown, ReviewRefused) as exc:  # on the record already
            raise CommandError(str(exc)) from None
        self.stdout.write(self._said(case, outcome))
        if outcome.refused:
            raise CommandError(
                f"{outcome.refused} of the images hold a category another member proposed or confirmed, or that is "
                "disputed: only the case's lead takes it away"
            )

    @staticmethod
    def _said(case: Case, outcome: ReviewOutcome) -> str:
        parts = [f"{outcome.changed} changed"]
        parts += [f"{n} {what}" for n, what in ((outcome.proposed, "proposed"), (outcome.confirmed, "confirmed")) if n]
        parts.append(f"{outcome.unchanged} unchanged")
        return f"case {case.reference}: " + ", ".join(parts)
