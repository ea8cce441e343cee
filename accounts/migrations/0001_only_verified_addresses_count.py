"""Undo what an unverified address could do before addresses had to be verified: an account whose email is not one
of its verified addresses takes its verified one back as primary and as its email; the sessions of accounts with no
verified address end (their next sign-in asks them to verify one)."""

from importlib import import_module

from django.conf import settings
from django.db import migrations

# Sessions kept in the database can be found by user; other engines are left to expire.
DATABASE_SESSIONS = "django.contrib.sessions.backends.db"


def only_verified_addresses_count(apps, schema_editor) -> None:
    EmailAddress = apps.get_model("account", "EmailAddress")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    unverified: set[str] = set()
    # Ids first, then the changes: no table is written while a cursor over it is open.
    for pk, email in list(User.objects.order_by("pk").values_list("pk", "email")):
        verified = list(EmailAddress.objects.filter(user_id=pk, verified=True).order_by("-primary", "pk"))
        if not verified:
            unverified.add(str(pk))
            continue
        if email.lower() in {address.email.lower() for address in verified} and verified[0].primary:
            continue
        EmailAddress.objects.filter(user_id=pk, primary=True).update(primary=False)
        EmailAddress.objects.filter(pk=verified[0].pk).update(primary=True)
        User.objects.filter(pk=pk).update(email=verified[0].email)
    if unverified and settings.SESSION_ENGINE == DATABASE_SESSIONS:
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        Session = apps.get_model("sessions", "Session")
        ended = [
            key
            for key, data in list(Session.objects.values_list("session_key", "session_data"))
            if str(store.decode(data).get("_auth_user_id")) in unverified
        ]
        Session.objects.filter(session_key__in=ended).delete()

class Migration(migrations.Migration):
    dependencies = [
        ("account", "0009_emailaddress_unique_primary_email"),
        ("sessions", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(only_verified_addresses_count, migrations.RunPython.noop)]
