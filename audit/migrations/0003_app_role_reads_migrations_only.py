"""The app's own role may read the record of applied migrations (Django checks it) but no longer change it: only the
migrations, run as the tables' owner, write it. 0002 granted every table in the schema, this one included."""

from importlib import import_module

from django.db import migrations

_run = import_module("audit.migrations.0002_app_role_rights")._run

MIGRATIONS_TABLE = "django_migrations"

READ_ONLY = [
    f"REVOKE ALL ON {MIGRATIONS_TABLE} FROM {{app}}",
    f"GRANT SELECT ON {MIGRATIONS_TABLE} TO {{app}}",
]
AS_BEFORE = [f"GRANT SELECT, INSERT, UPDATE, DELETE ON {MIGRATIONS_TABLE} TO {{app}}"]


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_app_role_rights")]

    operations = [migrations.RunPython(_run(READ_ONLY), _run(AS_BEFORE))]
