"""`manage.py persons list|show|name|merge|settings|recluster --case REF`: the persons of a case at the command
line.

`list` prints the case's persons, largest first; `show` one person's faces (by image SHA-256) and history. `name`
and `merge` act as the member `--as` names (user name or verified address; a reviewer only reads), audited as done
at the command line by that member. `recluster` clusters every face of the case again under the case's settings,
keeping every correction members made. `settings` shows how the case's faces are grouped, and sets it as the
member `--as` names (the lead). Every refusal is on the record."""

from __future__ import annotations

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
from jobs.pipeline.persons import persons_run
from persons.selectors import person_faces_listing, person_get, person_history, persons_of_case
from persons.services import PersonsRefused, PersonUnknown, person_merge, person_name, person_settings_set
from persons.updates import person_settings

WRITES = {"name": "persons.name", "merge": "persons.merge", "recluster": "persons.cluster",
          "settings": "persons.settings"}  # fmt: skip


def _refused(action: str, reference: str, why: str) -> CommandError:
    audit_record(action, outcome=AuditEvent.Outcome.REFUSED, actor=cli_actor(), target=reference, detail=why)
    return CommandError(why)


def _member(case: Case, name: str, action: str) -> AbstractBaseUser:
    named = get_user_model().objects.filter(Q(username=name) | Q(pk__in=verified_address_owners(email=name)))
    users = list(named.distinct()[:2])
    if len(users) != 1 or not users[0].is_active:
        raise _refused(action, case.reference, f"no single active user with user name or verified address {name!r}")
    return users[0]


class Command(BaseCommand):
    help = "List, show, name, merge and re-cluster the persons of a case."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name, text in (("list", "the case's persons, largest first"), ("show", "one person's faces and history")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
            if name == "show":
                sub.add_argument("person", type=int, help="the person's number")
        naming = actions.add_parser("name", help="name a person (an empty name takes it away)")
        merging = actions.add_parser("merge", help="merge the second person into the first")
        for sub in (naming, merging):
            sub.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
            sub.add_argument("--as", dest="member", required=True, help="the member acting: user name or address")
        naming.add_argument("person", type=int)
        naming.add_argument("name")
        merging.add_argument("into", type=int)
        merging.add_argument("other", type=int)
        grouping = actions.add_parser("settings", help="show or set (lead) the case's minimum faces, maximum distance")
        grouping.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")
        grouping.add_argument("--as", dest="member", default=None, help="the lead: user name or address")
        grouping.add_argument("--min-faces", type=int, default=None, help="faces a new person needs at least")
        grouping.add_argument("--max-distance", type=float, default=None, help="cosine distance, 0-2")
        again = actions.add_parser("recluster", help="cluster every face of the case again, keeping corrections")
        again.add_argument("--case", required=True, help="case reference (e.g. 2024-017)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        reference = options["case"]
        case = None if "\x00" in reference else case_by_reference(reference=reference)
        if case is None:
            if action in WRITES:
                raise _refused(WRITES[action], reference, f"no such case: {reference}")
            raise CommandError(f"no such case: {reference}")
        if action == "list":
            self._list(case)
        elif action == "show":
            self._show(case, options["person"])
        elif action == "settings" and options["member"] is None:
            row = person_settings(case_id=case.pk)
            self.stdout.write(f"min faces {row.min_faces}, max distance {row.max_distance}")
        elif action == "recluster":
            with acting_as(cli_actor()):
                run = persons_run(case_id=case.pk, full=True)
            self.stdout.write(f"{run.faces} faces: {run.attached} to persons kept, {run.persons_created} new persons")
        else:
            member = _member(case, options["member"], WRITES[action])
            with acting_as(cli_actor(member)):
                self._change(case, member, action, options)

    def _list(self, case: Case) -> None:
        persons = persons_of_case(case_id=case.pk)
        for person in persons.iterator():
            self.stdout.write(f"{person.pk}\t{person.face_count}\t{person.name or '-'}")
        audit_record("persons.list", actor=cli_actor(), target=case.reference)

    def _show(self, case: Case, person_id: int) -> None:
        person = person_get(case_id=case.pk, person_id=person_id)
        if person is None:
            raise CommandError(f"case {case.reference} has no person {person_id}")
        self.stdout.write(f"person {person.pk}: {person.name or '(unnamed)'}, {person.face_count} faces")
        for face_id, sha256, how in person_faces_listing(person=person):
            self.stdout.write(f"face\t{face_id}\t{sha256}\t{how}")
        for change in person_history(person=person):
            at = change.at.isoformat(timespec="seconds")
            self.stdout.write(f"history\t{at}\t{change.action}\t{change.faces}\t{change.user_label}\t{change.detail}")
        audit_record("persons.show", actor=cli_actor(), target=case.reference, person=person.pk)

    def _change(self, case: Case, member: AbstractBaseUser, action: str, options: dict[str, Any]) -> None:
        try:
            if action == "settings":
                current = person_settings(case_id=case.pk)
                row = person_settings_set(
                    case=case, user=member,
                    min_faces=current.min_faces if options["min_faces"] is None else options["min_faces"],
                    max_distance=current.max_distance if options["max_distance"] is None else options["max_distance"],
                )  # fmt: skip
                self.stdout.write(f"min faces {row.min_faces}, max distance {row.max_distance}")
            elif action == "name":
                person = person_name(case=case, user=member, person_id=options["person"], name=options["name"])
                self.stdout.write(f"person {person.pk} named {person.name!r}")
            else:
                person = person_merge(case=case, user=member, into_id=options["into"], other_id=options["other"])
                self.stdout.write(f"person {options['other']} merged into {person.pk}: {person.face_count} faces")
        except (PersonsRefused, PersonUnknown, ValueError) as exc:  # on the record already
            raise CommandError(str(exc)) from None
