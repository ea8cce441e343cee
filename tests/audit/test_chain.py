"""The audit log's hash chain: every event committed is sealed, in a chain with no gap, also with many writers at
once and with events that commit late; `manage.py audit verify` names the first event or seal a database
administrator changed or deleted behind the append-only triggers' back; the triggers and the app's rights let events
and seals be added and nothing else."""

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
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import errors

from audit.chain import GENESIS, audit_chain_seal, event_hash
from audit.models import AuditEvent, AuditSeal
from audit.selectors import audit_chain_head, audit_chain_verify
from audit.services import audit_record
from tests.support.environment import REPO, app_role_url, embedded_env
from tests.support.processes import child_run

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8
EACH = 40


def chain() -> list[tuple[int, int, str, str]]:
    return list(AuditSeal.objects.order_by("seq").values_list("seq", "event_id", "prev_hash", "hash"))


def seq_of(event: AuditEvent) -> int | None:
    return AuditSeal.objects.filter(event_id=event.pk).values_list("seq", flat=True).first()


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
        assert seq_of(inside) is None  # not before the commit

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
    first = AuditEvent.objects.values().get(pk=links[0][1])
    assert event_hash(first, seq=1, prev=GENESIS) == links[0][3]
    head = audit_chain_head()
    assert (head.seq, head.hash) == (14, links[-1][3])
    out = verify()
    assert "14 events verified" in out
    assert f"chain head: seq 14 hash {links[-1][3]}" in out
    # The verification is recorded, and sealed too.
    assert seq_of(AuditEvent.objects.get(action="audit.verify")) == 15


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
    # The writers sealed as they went (each commit tries); one that found another sealing left its event to the next
    # sealing, which whoever quotes the head does.
    assert AuditSeal.objects.count() > 0
    audit_chain_seal(wait=True)
    assert not AuditEvent.objects.filter(seal__isnull=True).exists()
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
    assert "120 events verified" in verify()  # after sealing what the writers left
    assert [seq for seq, *_ in chain()] == list(range(1, 122))  # and the verification, recorded


def test_a_change_by_a_database_administrator_is_found_at_that_event(logged, as_superuser):
    changed = logged[5]
    as_superuser.execute("UPDATE audit_auditevent SET detail = 'nothing happened' WHERE id = %s", [changed.pk])
    with pytest.raises(CommandError, match=rf"seq {seq_of(changed)} \(event {changed.pk}\): content changed"):
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
    event = logged[3]
    seal = AuditSeal.objects.get(event_id=event.pk)
    as_superuser.execute("UPDATE audit_auditevent SET outcome = 'refused' WHERE id = %s", [event.pk])
    forged = AuditEvent.objects.values().get(pk=event.pk)
    rehashed = event_hash(forged, seq=seal.seq, prev=seal.prev_hash)
    as_superuser.execute("UPDATE audit_auditseal SET hash = %s WHERE seq = %s", [rehashed, seal.seq])
    with pytest.raises(CommandError, match=rf"seq 5 \(event {logged[4].pk}\): previous-hash mismatch"):
        verify()


def test_a_deleted_event_is_found_as_a_gap(logged, as_superuser):
    as_superuser.execute("DELETE FROM audit_auditevent WHERE id = %s", [logged[6].pk])
    with pytest.raises(CommandError, match=rf"seq 8 \(event {logged[7].pk}\): gap: nothing sealed at place 7 before"):
        verify()


def test_a_deleted_seal_is_found_as_a_gap_once_its_event_is_sealed_again(logged, as_superuser):
    as_superuser.execute("DELETE FROM audit_auditseal WHERE event_id = %s", [logged[0].pk])
    check = audit_chain_verify()
    assert (check.unsealed, check.broken.seq, check.broken.event_id) == (1, 2, logged[1].pk)  # before sealing
    with pytest.raises(CommandError, match=rf"seq 2 \(event {logged[1].pk}\): gap: nothing sealed at place 1"):
        verify()
    assert seq_of(logged[0]) == 13  # sealed again, at the end


def test_an_event_that_commits_after_newer_events_were_sealed_is_sealed_after_them():
    """Ids are taken before the commit: a transaction that records an event and commits late leaves a lower id
    unsealed behind higher ones already sealed; the next sealing after a commit seals it, with the next place."""
    late_started, others_done = threading.Event(), threading.Event()

    def late_writer() -> None:
        try:
            with transaction.atomic():
                audit_record("job.share", target="the late one")
                late_started.set()
                others_done.wait(timeout=60)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(late_writer)
        assert late_started.wait(timeout=60)
        newer = [audit_record("job.view", n=n) for n in range(3)]  # sealed at once, the late one not yet committed
        assert [seq for seq, *_ in chain()] == [1, 2, 3]
        others_done.set()
        late.result()
    late_id = AuditEvent.objects.get(action="job.share").pk
    assert late_id < newer[0].pk
    assert seq_of(AuditEvent(pk=late_id)) == 4  # sealed on its own commit, after the newer ones
    last = audit_record("job.view")
    assert [event_id for _, event_id, *_ in chain()] == [*(e.pk for e in newer), late_id, last.pk]
    check = audit_chain_verify()
    assert (check.events, check.broken, check.unsealed) == (5, None, 0)


def test_with_an_interval_a_process_seals_at_most_that_often_and_audit_seal_seals_the_rest(settings):
    settings.AUDIT_CHAIN_SEAL_INTERVAL = 3600
    events = []
    for n in range(3):
        with transaction.atomic():
            events.append(audit_record("job.view", n=n))
    assert seq_of(events[-1]) is None  # this process tried within the hour: left for the next sealing
    assert AuditEvent.objects.filter(seal__isnull=True).count() >= 2
    out = io.StringIO()
    call_command("audit", "seal", stdout=out)
    assert AuditEvent.objects.filter(seal__isnull=True).count() == 0
    assert audit_chain_head().seq == 3
    assert audit_chain_verify().events == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET detail = 'x' WHERE id = {id}",
        "DELETE FROM audit_auditevent WHERE id = {id}",
        "UPDATE audit_auditseal SET hash = repeat('0', 64) WHERE event_id = {id}",
        "DELETE FROM audit_auditseal WHERE event_id = {id}",
    ],
    ids=["event-update", "event-delete", "seal-update", "seal-delete"],
)
def test_the_triggers_refuse_to_change_or_delete_an_event_or_a_seal(logged, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(id=logged[0].pk))
    assert audit_chain_verify().events == 12


def test_a_second_seal_of_an_event_or_of_a_place_is_refused(logged):
    head = audit_chain_head()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditSeal.objects.create(seq=head.seq + 1, event_id=logged[0].pk, prev_hash=head.hash, hash="1" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditSeal.objects.create(seq=head.seq, event_id=logged[0].pk + 100, prev_hash=head.hash, hash="1" * 64)


def test_the_app_role_may_add_seals_but_change_or_delete_no_event_and_no_seal(logged):
    with psycopg.connect(app_role_url(connection.settings_dict), autocommit=True) as app:
        (unsealed,) = app.execute(
            "INSERT INTO audit_auditevent (at, via, username, client, credential, action, outcome, target, detail,"
            " data) VALUES (now(), 'system', '', '', '', 'job.view', 'ok', '', '', '{}') RETURNING id"
        ).fetchone()
        app.execute(
            "INSERT INTO audit_auditseal (seq, event_id, prev_hash, hash) VALUES (13, %s, %s, %s)",
            [unsealed, audit_chain_head().hash, "2" * 64],
        )  # allowed (a wrong hash, which verify then names)
        for statement in (
            "UPDATE audit_auditevent SET detail = 'x'",
            "DELETE FROM audit_auditevent",
            "TRUNCATE audit_auditevent",
            "UPDATE audit_auditseal SET hash = repeat('3', 64)",
            "DELETE FROM audit_auditseal",
            "TRUNCATE audit_auditseal",
            "ALTER TABLE audit_auditseal DISABLE TRIGGER audit_seal_append_only",
            "DROP TABLE audit_auditseal",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(statement)
    check = audit_chain_verify()
    assert (check.events, check.broken.event_id) == (12, unsealed)


def test_with_sealing_on_commit_off_audit_seal_and_audit_verify_seal(settings, logged):
    settings.AUDIT_CHAIN_SEAL_ON_COMMIT = False
    later = [audit_record("job.view"), audit_record("job.view")]
    assert seq_of(later[0]) is None
    out = io.StringIO()
    call_command("audit", "seal", stdout=out)
    assert out.getvalue() == "sealed 2 events\n"
    assert seq_of(later[1]) == 14
    last = audit_record("job.view")
    assert "sealed 1 events" in verify()
    assert seq_of(last) == 15


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
