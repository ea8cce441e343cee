"""Verification runs and their entries are kept for good, as the audit log is: on PostgreSQL a trigger refuses
DELETE on both tables (a job's deletion only clears a run's link to it)."""

from django.db import migrations

KEPT = """
CREATE FUNCTION verification_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'verification runs are kept: % refused', TG_OP;
END $$;
CREATE TRIGGER verification_run_kept BEFORE DELETE ON verification_verificationrun
    FOR EACH ROW EXECUTE FUNCTION verification_kept();
CREATE TRIGGER verification_file_kept BEFORE DELETE ON verification_verificationfile
    FOR EACH ROW EXECUTE FUNCTION verification_kept();
"""
KEPT_REVERSE = """
DROP TRIGGER verification_file_kept ON verification_verificationfile;
DROP TRIGGER verification_run_kept ON verification_verificationrun;
DROP FUNCTION verification_kept();
"""


def kept(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(KEPT, params=None)  # no placeholders: its "%" is PL/pgSQL's


def kept_reverse(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(KEPT_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("verification", "0001_initial")]

    operations = [migrations.RunPython(kept, kept_reverse)]
