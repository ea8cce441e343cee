"""The hash chain (audit.chain): three columns, empty until an event is sealed; the append-only trigger lets each
event be sealed once, and nothing else; the app's role may update those three columns only; the events recorded so
far are sealed, oldest id first."""

from importlib import import_module

from django.db import migrations, models

from audit.chain import audit_chain_seal

_run = import_module("audit.migrations.0002_app_role_rights")._run

CHAIN = ("chain_seq", "chain_prev", "chain_hash")
# Every column but the chain's must stay as it was (the whole row compared, so columns added later are covered too);
# the chain's go from empty to set, all three, once. An event is inserted unsealed. DELETE is refused, as before.
SEAL_ONCE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sealed audit_auditevent;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.chain_seq IS NULL AND NEW.chain_prev IS NULL AND NEW.chain_hash IS NULL THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit log is append-only: an event is inserted unsealed, the chain seals it';
    END IF;
    IF TG_OP = 'UPDATE'
        AND OLD.chain_seq IS NULL AND OLD.chain_prev IS NULL AND OLD.chain_hash IS NULL
        AND NEW.chain_seq IS NOT NULL AND NEW.chain_prev IS NOT NULL AND NEW.chain_hash IS NOT NULL
    THEN
        sealed := OLD;
        sealed.chain_seq := NEW.chain_seq;
        sealed.chain_prev := NEW.chain_prev;
        sealed.chain_hash := NEW.chain_hash;
        IF NEW IS NOT DISTINCT FROM sealed THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""
# Sealing leaves the index of unsealed events (audit_unsealed) an entry for each event's version before it, until
# VACUUM removes them, and the sealer reads past those entries: vacuum the log after every 10,000 sealed events
# rather than after a fifth of the table, however large it grows.
VACUUM_OFTEN = """
ALTER TABLE audit_auditevent SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
"""
VACUUM_AS_BEFORE = """
ALTER TABLE audit_auditevent RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
"""
AS_BEFORE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER audit_event_append_only ON audit_auditevent;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""
SEAL_RIGHTS = [f"GRANT UPDATE ({', '.join(CHAIN)}) ON {{audit}} TO {{app}}"]
NO_SEAL_RIGHTS = [f"REVOKE UPDATE ({', '.join(CHAIN)}) ON {{audit}} FROM {{app}}"]


def _postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: its "%" is PL/pgSQL's

    return run


def _seal(apps, schema_editor) -> None:
    audit_chain_seal(wait=True, model=apps.get_model("audit", "AuditEvent"))


def _unseal(apps, schema_editor) -> None:
    """Back to unsealed: only the tables' owner with the trigger of 0001 disabled may, as going back needs."""
    events = apps.get_model("audit", "AuditEvent").objects
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    events.update(chain_seq=None, chain_prev=None, chain_hash=None)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")



class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_app_role_reads_migrations_only'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='chain_hash',
            field=models.CharField(blank=True, help_text="this event's SHA-256", max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='chain_prev',
            field=models.CharField(blank=True, help_text="the previous event's hash", max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='chain_seq',
            field=models.BigIntegerField(blank=True, help_text="the event's place in the chain", null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('chain_hash__isnull', True)), fields=['id'], name='audit_unsealed'),
        ),
        migrations.RunPython(_postgresql(SEAL_ONCE), _postgresql(AS_BEFORE)),
        migrations.RunPython(_postgresql(VACUUM_OFTEN), _postgresql(VACUUM_AS_BEFORE)),
        migrations.RunPython(_run(SEAL_RIGHTS), _run(NO_SEAL_RIGHTS)),
        migrations.RunPython(_seal, _unseal),
    ]
