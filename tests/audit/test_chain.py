"""The audit log's hash chain: every event committed is sealed, in a chain with no gap, also with many writers at
once; `manage.py audit verify` names the first event a database administrator changed or deleted behind the
append-only trigger's back; the trigger lets an event be sealed once and changed in no other way."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from psycopg import errors

from audit.chain import GENESIS, event_hash
from audit.models import AuditEvent
from audit.selectors import audit_chain_head, audit_chain_verify
from audit.services import audit_record
from tests.support.environment import REPO, app_role_url, embedded_env
from tests.support.processes import child_run

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8
EACH = 40


def chain() -> list[tuple[int, int, str, str]]:
    return list(AuditEvent.objects.order_by("chain_seq").values_list("chain_seq", "id", "chain_prev", "chain_hash"))


def verify() -> str:
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    return out.getvalue()


def owner_url() -> str:
    """The test database's URL for the suite's own role: the tables' owner, a superuser."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def as_superuser() -> Iterator[psycopg.Connection]:
    """A database administrator's connection, in autocommit, that goes around the trigger as one can: the trigger
    does not fire for a replica's session."""
    with psycopg.connect(owner_url(), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@pytest.fixture
def logged() -> list[AuditEvent]:
    """Twelve events, each in a transaction of its own, as requests record them, some with JSON data."""
    events = []
    for n in range(12):
        with transaction.atomic():
            events.append(audit_record("job.view", job_id=n, target=f"file {n}", n=n, names=["é", "x"], f=0.1))
    return events


def test_events_are_sealed_when_their_transaction_commits_into_one_chain(logged):
    with transaction.atomic():
        inside = audit_record("job.share", detail="two in one transaction")
        audit_record("job.unshare")
        assert AuditEvent.objects.get(pk=inside.pk).chain_hash is None  # not before the commit

    def delete_that_fails() -> None:
        with transaction.atomic():
            audit_record("job.delete")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        delete_that_fails()  # its event rolls back with it, and leaves no gap
    links = chain()
    assert [seq for seq, *_ in links] == list(range(1, 15))
    assert [event_id for _, event_id, *_ in links] == sorted(event_id for _, event_id, *_ in links)
    assert links[0][2] == GENESIS
    assert all(links[n][2] == links[n - 1][3] for n in range(1, len(links)))
    first = AuditEvent.objects.values().get(chain_seq=1)
    assert event_hash(first, seq=1, prev=GENESIS) == first["chain_hash"]
    head = audit_chain_head()
    assert (head.seq, head.hash) == (14, links[-1][3])
    out = verify()
    assert "14 events verified" in out
    assert f"chain head: seq 14 hash {links[-1][3]}" in out
    # The verification is recorded, and sealed too.
    assert AuditEvent.objects.get(action="audit.verify").chain_seq == 15


def test_no_chain_head_before_the_first_event():
    assert audit_chain_head() is None
    assert audit_chain_verify().events == 0


def test_concurrent_writers_leave_every_event_sealed_in_a_chain_with_no_gap():
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EACH):
                with transaction.atomic():
                    audit_record("file.view", target=f"writer {writer} event {n}")
        finally:
            connection.close()

    with ThreadPoolExecutor(WRITERS) as pool:
        for done in [pool.submit(write, writer) for writer in range(WRITERS)]:
            done.result()
    # Sealed by the writers themselves, before anyone verifies: none is left behind by the race between a sealer
    # that has selected its batch and a commit that lands meanwhile.
    assert not AuditEvent.objects.filter(chain_hash__isnull=True).exists()
    assert [seq for seq, *_ in chain()] == list(range(1, WRITERS * EACH + 1))
    check = audit_chain_verify()
    assert (check.events, check.broken, check.unsealed) == (WRITERS * EACH, None, 0)


def test_writers_in_processes_of_their_own_leave_a_valid_chain(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.db import transaction\n"
        "from audit.services import audit_record\n"
        "for n in range(30):\n"
        "    with transaction.atomic():\n"
        "        audit_record('file.view', target=f'process event {n}')\n"
    )
    env = {**os.environ, "DATABASE_URL": owner_url(), "DJANGO_SETTINGS_MODULE": "scanner.settings.test"}
    children = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env) for _ in range(4)]
    assert [child.wait(timeout=120) for child in children] == [0] * 4
    assert [seq for seq, *_ in chain()] == list(range(1, 121))
    assert "120 events verified" in verify()


def test_a_change_by_a_database_administrator_is_found_at_that_event(logged, as_superuser):
    changed = AuditEvent.objects.get(pk=logged[5].pk)
    as_superuser.execute("UPDATE audit_auditevent SET detail = 'nothing happened' WHERE id = %s", [changed.pk])
    with pytest.raises(CommandError, match=rf"seq {changed.chain_seq} \(event {changed.pk}\): content changed"):
        verify()
    check = audit_chain_verify()
    assert (check.head.seq, check.broken.seq, check.broken.event_id) == (5, 6, changed.pk)
    recorded = AuditEvent.objects.get(action="audit.verify")
    assert (recorded.outcome, recorded.detail) == ("failed", f"seq 6, event {changed.pk}: content changed: its hash "
                                                   "does not match its fields")  # fmt: skip


def test_a_change_of_the_json_data_or_the_time_is_found(logged, as_superuser):
    as_superuser.execute("UPDATE audit_auditevent SET data = data || '{\"n\": 99}' WHERE id = %s", [logged[2].pk])
    assert audit_chain_verify().broken.event_id == logged[2].pk
    as_superuser.execute("UPDATE audit_auditevent SET at = at - interval '1 day' WHERE id = %s", [logged[1].pk])
    assert audit_chain_verify().broken.event_id == logged[1].pk


def test_a_change_with_its_hash_recomputed_is_found_at_the_next_event(logged, as_superuser):
    event = AuditEvent.objects.get(pk=logged[3].pk)
    as_superuser.execute("UPDATE audit_auditevent SET outcome = 'refused' WHERE id = %s", [event.pk])
    forged = AuditEvent.objects.values().get(pk=event.pk)
    rehashed = event_hash(forged, seq=event.chain_seq, prev=event.chain_prev)
    as_superuser.execute("UPDATE audit_auditevent SET chain_hash = %s WHERE id = %s", [rehashed, event.pk])
    with pytest.raises(CommandError, match=rf"seq 5 \(event {logged[4].pk}\): previous-hash mismatch"):
        verify()


def test_a_deleted_event_is_found_as_a_gap(logged, as_superuser):
    as_superuser.execute("DELETE FROM audit_auditevent WHERE id = %s", [logged[6].pk])
    with pytest.raises(CommandError, match=rf"seq 8 \(event {logged[7].pk}\): gap: no event at place 7 before it"):
        verify()


def test_an_event_unsealed_behind_the_trigger_is_found_as_a_gap_once_sealed_again(logged, as_superuser):
    as_superuser.execute(
        "UPDATE audit_auditevent SET chain_seq = NULL, chain_prev = NULL, chain_hash = NULL WHERE id = %s",
        [logged[0].pk],
    )
    with pytest.raises(CommandError, match=rf"seq 2 \(event {logged[1].pk}\): gap"):
        verify()
    assert AuditEvent.objects.get(pk=logged[0].pk).chain_seq == 13  # sealed again, at the end


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET chain_hash = repeat('0', 64) WHERE id = {id}",  # a sealed event, sealed again
        "UPDATE audit_auditevent SET chain_seq = NULL, chain_prev = NULL, chain_hash = NULL WHERE id = {id}",
        "UPDATE audit_auditevent SET detail = 'x' WHERE id = {id}",
        "DELETE FROM audit_auditevent WHERE id = {id}",
        "INSERT INTO audit_auditevent (at, via, username, client, credential, action, outcome, target, detail, data,"
        " chain_seq, chain_prev, chain_hash) VALUES (now(), 'system', '', '', '', 'x', 'ok', '', '', '{{}}', 99,"
        " repeat('0', 64), repeat('1', 64))",
    ],
    ids=["reseal", "unseal", "detail", "delete", "insert-sealed"],
)
def test_the_trigger_lets_an_event_be_sealed_once_and_nothing_else(logged, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(id=logged[0].pk))
    assert audit_chain_verify().events == 12


def test_the_trigger_refuses_a_seal_that_changes_anything_else():
    with transaction.atomic():
        AuditEvent.objects.bulk_create([AuditEvent(via="system", action="x")])  # no sealing asked
    event = AuditEvent.objects.get()
    assert event.chain_hash is None
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(chain_seq=1, chain_prev=GENESIS, chain_hash="1" * 64, target="y")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(chain_seq=1)  # all three, or none
    assert "1 events verified" in verify()


def test_the_app_role_may_seal_but_change_or_delete_nothing(logged):
    with psycopg.connect(app_role_url(connection.settings_dict), autocommit=True) as app:
        app.execute(
            "INSERT INTO audit_auditevent (at, via, username, client, credential, action, outcome, target, detail,"
            " data) VALUES (now(), 'system', '', '', '', 'job.view', 'ok', '', '', '{}')"
        )
        (unsealed,) = app.execute("SELECT id FROM audit_auditevent WHERE chain_hash IS NULL").fetchone()
        app.execute(
            "UPDATE audit_auditevent SET chain_seq = 13, chain_prev = %s, chain_hash = %s WHERE id = %s",
            [audit_chain_head().hash, "2" * 64, unsealed],
        )  # allowed once (a wrong hash, which verify then names)
        with pytest.raises(errors.RaiseException, match="append-only"):
            app.execute("UPDATE audit_auditevent SET chain_hash = %s WHERE id = %s", ["3" * 64, unsealed])
        for statement in (
            "UPDATE audit_auditevent SET detail = 'x'",
            "UPDATE audit_auditevent SET chain_hash = NULL, detail = 'x'",
            "DELETE FROM audit_auditevent",
            "TRUNCATE audit_auditevent",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(statement)
    assert audit_chain_verify().broken.event_id == unsealed


def test_with_sealing_on_commit_off_audit_seal_and_audit_verify_seal(settings, logged):
    settings.AUDIT_CHAIN_SEAL_ON_COMMIT = False
    later = [audit_record("job.view"), audit_record("job.view")]
    assert AuditEvent.objects.get(pk=later[0].pk).chain_seq is None
    out = io.StringIO()
    call_command("audit", "seal", stdout=out)
    assert out.getvalue() == "sealed 2 events\n"
    assert AuditEvent.objects.get(pk=later[1].pk).chain_seq == 14
    last = audit_record("job.view")
    assert "sealed 1 events" in verify()
    assert AuditEvent.objects.get(pk=last.pk).chain_seq == 15


def test_the_export_form_of_the_command_still_works(logged):
    out = io.StringIO()
    call_command("audit", "--format", "jsonl", stdout=out)
    assert out.getvalue().count("\n") == 12


def test_the_chain_works_embedded_on_sqlite(tmp_path):
    env = embedded_env(tmp_path / "var")

    def manage(*args: str) -> subprocess.CompletedProcess:
        return child_run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip

    assert manage("migrate", "-v", "0").returncode == 0
    shell = "from audit.services import audit_record\nfor n in range(5): audit_record('job.view', n=n)"
    assert manage("shell", "-c", shell).returncode == 0
    done = manage("audit", "verify")
    assert (done.returncode, done.stderr) == (0, "")
    assert "5 events verified" in done.stdout
    assert "chain head: seq 5 hash " in done.stdout
