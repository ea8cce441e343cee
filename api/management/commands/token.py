"""`manage.py token create|list|revoke`: API tokens for the gRPC API (the web app's "API tokens" page does the same
for the signed-in user)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke_by_prefix
from audit.services import acting_as, cli_actor


def _user(name: str):
    users = get_user_model().objects.filter(Q(username=name) | Q(email__iexact=name))
    if len(users) != 1:
        raise CommandError(f"no single user with username or email {name!r}")
    return users[0]


class Command(BaseCommand):
    help = "Create, list and revoke API tokens of the gRPC API."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token for USER and print it (it is shown only once)")
        create.add_argument("user", help="username or email")
        create.add_argument("--name", default="", help="what the token is for")
        listing = actions.add_parser("list", help="tokens (prefix, name, user, last use)")
        listing.add_argument("user", nargs="?", help="only this user's")
        revoke = actions.add_parser("revoke", help="delete a token by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        with acting_as(cli_actor()):
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        if options["action"] == "create":
            user = _user(options["user"])
            if not user.is_active:
                raise CommandError(f"{options['user']} is deactivated")
            _, token = api_token_create(user=user, name=options["name"] or "command line")
            self.stdout.write(token)
        elif options["action"] == "list":
            tokens = ApiToken.objects.select_related("user").order_by("user__email", "-created_at")
            if options["user"]:
                tokens = tokens.filter(user=_user(options["user"]))
            for t in tokens:
                used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
                self.stdout.write(f"{t.prefix}  {t.user.email or t.user.get_username()}  {t.name}  {used}")
        elif not api_token_revoke_by_prefix(prefix=options["prefix"]):
            raise CommandError(f"no token {options['prefix']}")
        else:
            self.stdout.write(f"revoked {options['prefix']}")
