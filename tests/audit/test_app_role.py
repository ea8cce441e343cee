"""The app's own database role (settings.DATABASE_APP_ROLE, what the app's processes connect as) may add to the audit
log and read it, and do its normal work on every other table, but has no way around the log's append-only rule."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from psycopg import errors

from audit.models import AuditEvent
from audit.services import SYSTEM, acting_as
from cases.models import Case, CaseMember
from cases.services import case_create, case_member_remove, case_member_set
from jobs.models import Job
from jobs.services import job_create, job_delete, job_share, job_unshare
from tests.support.environment import APP_ROLE_PASSWORD, app_role_url

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT = AuditEvent._meta.db_table


@pytest.fixture
def as_app_role() -> Iterator[psycopg.Connection]:
    """A connection to the test database as the app's role, in autocommit as the app's own connections run."""
    with psycopg.connect(app_role_url(connection.settings_dict), autocommit=True) as conn:
        yield conn


@pytest.fixture
def django_as_app_role() -> Iterator[None]:
    """The test's Django connection made as the app's role for the test (the suite's own role empties the database
    after it)."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(USER=settings.DATABASE_APP_ROLE, PASSWORD=APP_ROLE_PASSWORD)
    yield
    connection.close()
    connection.settings_dict.update(saved)


def test_the_app_role_is_no_superuser_holds_no_other_role_and_owns_nothing(as_app_role):
    role = as_app_role.execute(
        "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert role == (settings.DATABASE_APP_ROLE, False, False, False, False, False)
    assert (
        as_app_role.execute("SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole").fetchone()[0]
        == 0
    )
    owned = as_app_role.execute(
        "SELECT count(*) FROM pg_class"
        " WHERE relowner = current_user::regrole AND relnamespace = current_schema()::regnamespace"
    ).fetchone()[0]
    assert owned == 0
    assert as_app_role.execute("SELECT count(*) FROM pg_class WHERE relname = %s", [AUDIT]).fetchone()[0] == 1


BYPASSES = [
    "SET session_replication_role = replica",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
    "DROP TRIGGER audit_event_append_only ON audit_auditevent",
    "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NEW; END $$",
    "TRUNCATE audit_auditevent",
    "UPDATE audit_auditevent SET detail = 'nothing happened'",
    "DELETE FROM audit_auditevent",
    "DROP TABLE audit_auditevent",
    "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
    "SET ROLE postgres",
]


@pytest.mark.parametrize("statement", BYPASSES, ids=[" ".join(s.split()[:4]) for s in BYPASSES])
def test_the_app_role_cannot_change_or_empty_the_audit_log(as_app_role, statement):
    recorded = "SELECT action, job_id, detail FROM audit_auditevent"
    as_app_role.execute(
        "INSERT INTO audit_auditevent (at, via, username, client, credential, action, outcome, job_id, target, detail,"
        " data) VALUES (now(), 'system', '', '', '', 'job.delete', 'ok', 7, 'case 7', '', '{}')"
    )
    assert as_app_role.execute(recorded).fetchall() == [("job.delete", 7, "")]
    with pytest.raises(errors.InsufficientPrivilege):
        as_app_role.execute(statement)
    assert as_app_role.execute(recorded).fetchall() == [("job.delete", 7, "")]
    trigger = as_app_role.execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_event_append_only' AND tgrelid = %s::regclass", [AUDIT]
    ).fetchone()
    assert trigger == ("O",)  # there and enabled


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO django_migrations (app, name, applied) VALUES ('audit', '9999_pretend', now())",
        "UPDATE django_migrations SET name = name",
        "DELETE FROM django_migrations",
        "TRUNCATE django_migrations",
    ],
    ids=["insert", "update", "delete", "truncate"],
)
def test_the_app_role_reads_the_applied_migrations_but_cannot_change_them(as_app_role, statement):
    applied = "SELECT count(*) FROM django_migrations WHERE app = 'audit'"
    before = as_app_role.execute(applied).fetchone()[0]
    assert before
    with pytest.raises(errors.InsufficientPrivilege):
        as_app_role.execute(statement)
    assert as_app_role.execute(applied).fetchone()[0] == before


def test_the_app_role_adds_to_the_audit_log_reads_it_and_does_its_normal_work(django_as_app_role, evidence_dir):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (settings.DATABASE_APP_ROLE,)
    owner = get_user_model().objects.create_user("owner", "owner@example.org")
    reviewer = get_user_model().objects.create_user("reviewer", "reviewer@example.org")
    with acting_as(SYSTEM):
        job = job_create(name="case", source_path=evidence_dir, owner=owner, within=evidence_dir.parent)
        job_id = job.pk
        job_share(job=job, user=reviewer, role="full")
        job_share(job=job, user=reviewer, role="reviewer")  # an UPDATE
        job_unshare(job=job, user_id=reviewer.pk)  # a DELETE
        Job.objects.filter(pk=job_id).update(description="seized laptop")
        job_delete(job=job)
        named = case_create(reference="2024-017", title="a named case", owner=owner)
        case_member_set(case=named, user=reviewer, role="examiner")
        case_member_remove(case=named, user_id=reviewer.pk)
    assert not Job.objects.exists()
    # The job's own case stays with its lead (the case's record), the share it had is gone.
    assert set(CaseMember.objects.values_list("case__reference", "user_id", "role")) == {
        (f"job-{job_id}", owner.pk, "lead"),
        ("2024-017", owner.pk, "lead"),
    }
    assert Case.objects.count() == 2
    actions = list(AuditEvent.objects.filter(job_id=job_id).order_by("id").values_list("action", flat=True))
    assert actions == ["job.create", "job.share", "job.share", "job.unshare", "job.delete"]
