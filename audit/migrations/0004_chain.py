"""The hash chain (audit.chain): a narrow table of seals, one per event, only ever added to, like the log (a trigger
refuses UPDATE and DELETE; the app's role may only INSERT and SELECT); the events recorded so far are sealed, oldest
id first. The events' table is unchanged."""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

from audit.chain import audit_chain_seal

_run = import_module("audit.migrations.0002_app_role_rights")._run

APPEND_ONLY = """
CREATE FUNCTION audit_seal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % of a seal refused', TG_OP;
END $$;
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_auditseal
    FOR EACH ROW EXECUTE FUNCTION audit_seal_append_only();
"""
APPEND_ONLY_REVERSE = """
DROP TRIGGER audit_seal_append_only ON audit_auditseal;
DROP FUNCTION audit_seal_append_only();
"""
# The owner's default privileges gave the app's role every right on the new table: add and read, nothing else.
SEAL_RIGHTS = ["REVOKE ALL ON audit_auditseal FROM {app}", "GRANT SELECT, INSERT ON audit_auditseal TO {app}"]


def _postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: its "%" is PL/pgSQL's

    return run


def _seal(apps, schema_editor) -> None:
    audit_chain_seal(wait=True, apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_app_role_reads_migrations_only'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditSeal',
            fields=[
                ('seq', models.BigIntegerField(help_text="the event's place in the chain: 1, 2, 3, ... no gap", primary_key=True, serialize=False)),
                ('prev_hash', models.CharField(help_text="the previous link's hash", max_length=64)),
                ('hash', models.CharField(help_text="this link's SHA-256", max_length=64)),
                ('event', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='seal', to='audit.auditevent')),
            ],
        ),
        migrations.RunPython(_postgresql(APPEND_ONLY), _postgresql(APPEND_ONLY_REVERSE)),
        migrations.RunPython(_run(SEAL_RIGHTS), migrations.RunPython.noop),
        migrations.RunPython(_seal, migrations.RunPython.noop),
    ]
