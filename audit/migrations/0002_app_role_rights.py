"""The app's own PostgreSQL role gets the rights it works with, and no more (README, "Database roles").

Migrations run as the role that owns the tables; the app's processes connect as DATABASE_APP_ROLE, which owns
nothing and is no superuser. It may read and write every table, the audit log excepted: that one it may only add to
and read. So the app cannot change or empty the log by any door (UPDATE, DELETE, TRUNCATE, DROP, disabling the
append-only trigger, `session_replication_role`), whatever a bug or an attacker in the app sends. Tables that later
migrations create get the same rights (default privileges of the owner). With one role for both (DATABASE_APP_ROLE
is the user of DATABASE_URL, the default), there is nothing to grant and only the trigger guards the log.
"""

from django.conf import settings
from django.db import migrations

AUDIT_TABLE = "audit_auditevent"


def _names(schema_editor) -> dict[str, str] | None:
    """The quoted names the statements need, or None where there is no separate app role to grant."""
    app_role = getattr(settings, "DATABASE_APP_ROLE", "")
    if schema_editor.connection.vendor != "postgresql" or not app_role:
        return None
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema(), current_database()")
        owner, schema, database = cursor.fetchone()
    if app_role == owner:
        return None
    quote = schema_editor.quote_name
    return {"app": quote(app_role), "schema": quote(schema), "database": quote(database), "audit": quote(AUDIT_TABLE)}


GRANT = [
    "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {app}",
    "GRANT USAGE ON SCHEMA {schema} TO {app}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    # The audit log: add and read, nothing else.
    "REVOKE ALL ON {audit} FROM {app}",
    "GRANT SELECT, INSERT ON {audit} TO {app}",
]
REVOKE = [
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {app}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {app}",
    "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {app}",
    "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {app}",
    "REVOKE USAGE ON SCHEMA {schema} FROM {app}",
    "REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM {app}",
]


def _run(statements: list[str]):
    def run(apps, schema_editor) -> None:
        names = _names(schema_editor)
        for statement in statements if names else []:
            schema_editor.execute(statement.format(**names))

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(GRANT), _run(REVOKE))]
