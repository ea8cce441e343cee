"""Importing a hash set: entries streamed in batches under a set IMPORTING, the set READY with its counts, source
SHA-256 and version only at the end; an interrupted import leaves nothing; enabling, disabling and deleting are
audited and announced."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from audit.models import AuditEvent
from hashsets import services
from hashsets.models import HashEntry, HashSet
from hashsets.services import HashSetRefused, hash_set_delete, hash_set_enable, hash_set_import
from hashsets.signals import hash_sets_changed
from tests.support import hashsets as build

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = build.digests(25)


@pytest.fixture
def announced():
    sent: list[int] = []

    def receiver(sender, hash_set_id, **kwargs):
        sent.append(hash_set_id)

    hash_sets_changed.connect(receiver)
    yield sent
    hash_sets_changed.disconnect(receiver)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(services, "IMPORT_BATCH", 7)


def test_an_nsrl_import_records_source_version_and_counts(tmp_path: Path, announced, small_batches) -> None:
    path = build.nsrl_rds(tmp_path, ROWS, version="2024.12.1", bad=3)
    user = get_user_model().objects.create_user(username="lab", is_staff=True)
    report = hash_set_import(path=path, name="NSRL modern", kind="known-good", user=user)
    hash_set = HashSet.objects.get(name="NSRL modern")
    assert (hash_set.status, hash_set.kind, hash_set.source_format) == ("ready", "known-good", "nsrl-rds")
    assert hash_set.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hash_set.version == "2024.12.1 modern"
    assert (hash_set.entries, hash_set.malformed) == (25 * 3 + 3 * 2, 3)
    assert HashEntry.objects.filter(hash_set=hash_set).count() == hash_set.entries
    assert HashEntry.objects.filter(hash_set=hash_set, algorithm=HashEntry.Algorithm.MD5, digest=ROWS[4][0]).exists()
    assert [m.line for m in report.malformed_lines] == [26, 27, 28]
    assert (hash_set.imported_by, hash_set.source_name) == (user, path.name)
    assert announced == [hash_set.pk]
    event = AuditEvent.objects.get(action="hashset.import")
    assert event.outcome == "ok"
    assert event.data["entries"] == hash_set.entries
    assert event.data["source_sha256"] == hash_set.source_sha256
    assert event.data["malformed_lines"][0] == [26, "MD5: not a hexadecimal hash"]


def test_a_listener_that_fails_does_not_undo_the_import(tmp_path: Path) -> None:
    def failing(sender, hash_set_id, **kwargs):
        raise RuntimeError("matching is down")

    hash_sets_changed.connect(failing)
    try:
        hash_set_import(path=build.plain(tmp_path, ROWS), name="Own", kind="alert")
    finally:
        hash_sets_changed.disconnect(failing)
    assert HashSet.objects.get().status == "ready"
    assert HashEntry.objects.count() == len(ROWS)


def test_vics_entries_keep_category_and_data(tmp_path: Path) -> None:
    hash_set_import(path=build.vics(tmp_path, ROWS, version="2"), name="VIC", kind="known-bad", category="CAT1")
    entry = HashEntry.objects.get(digest=ROWS[0][1])
    assert (entry.algorithm, entry.category, entry.extra["MediaSize"]) == (HashEntry.Algorithm.SHA1, "1", 2835)
    assert HashSet.objects.get(name="VIC").category == "CAT1"


def test_a_pdq_list_is_a_pdq_set_and_nothing_else_is(tmp_path: Path) -> None:
    path = build.pdq(tmp_path, [(row[2], 90) for row in ROWS])
    hash_set_import(path=path, name="TE", kind="pdq")
    assert set(HashEntry.objects.values_list("algorithm", "quality").distinct()) == {(HashEntry.Algorithm.PDQ, 90)}
    with pytest.raises(HashSetRefused, match="PDQ lists are sets of kind pdq"):
        hash_set_import(path=path, name="TE2", kind="known-bad")
    with pytest.raises(HashSetRefused, match="PDQ lists are sets of kind pdq"):
        hash_set_import(path=build.plain(tmp_path, ROWS), name="TE3", kind="pdq")
    assert list(HashSet.objects.values_list("name", flat=True)) == ["TE"]
    assert AuditEvent.objects.filter(action="hashset.import", outcome="refused").count() == 2


def test_a_huge_line_is_reported_and_the_import_goes_on(tmp_path: Path) -> None:
    path = build.plain(tmp_path, ROWS[:3], extra_lines=[build.huge_line(), ROWS[3][0]])
    report = hash_set_import(path=path, name="Own", kind="alert")
    assert [(m.line, m.reason.startswith("line longer")) for m in report.malformed_lines] == [(5, True)]
    assert HashSet.objects.get(name="Own").entries == 4


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_import_leaves_no_set_and_no_entries(
    tmp_path, monkeypatch, small_batches, announced, interruption
) -> None:
    real = services.bulk_insert
    calls = []

    def failing(model, rows):
        calls.append(len(rows))
        if len(calls) == 3:  # two batches are committed by now
            raise interruption
        real(model, rows)

    monkeypatch.setattr(services, "bulk_insert", failing)
    with pytest.raises(type(interruption)):
        hash_set_import(path=build.md5deep(tmp_path, ROWS), name="Half", kind="known-bad")
    assert len(calls) == 3
    assert not HashSet.objects.exists()
    assert not HashEntry.objects.exists()
    assert announced == []
    assert AuditEvent.objects.get(action="hashset.import").outcome == "failed"


def test_ctrl_c_in_the_middle_of_a_copy_leaves_nothing_and_the_next_import_works(tmp_path, monkeypatch, small_batches):
    real, written = psycopg.Copy.write_row, []

    def write_row(self, row):
        written.append(row)
        if len(written) == 17:  # two batches committed, the third half sent
            raise KeyboardInterrupt
        return real(self, row)

    monkeypatch.setattr(psycopg.Copy, "write_row", write_row)
    with pytest.raises(KeyboardInterrupt):
        hash_set_import(path=build.plain(tmp_path, ROWS), name="Half", kind="alert")
    assert not HashSet.objects.exists()
    assert not HashEntry.objects.exists()
    monkeypatch.setattr(psycopg.Copy, "write_row", real)
    hash_set_import(path=build.plain(tmp_path, ROWS), name="Half", kind="alert")
    assert HashSet.objects.get().entries == len(ROWS)


def test_broken_json_removes_the_set_and_is_refused(tmp_path: Path, small_batches) -> None:
    path = build.vics(tmp_path, ROWS, version="1")
    path.write_text(path.read_text()[:-100])
    with pytest.raises(HashSetRefused, match=r"vics\.json: line"):
        hash_set_import(path=path, name="Broken", kind="known-bad")
    assert not HashSet.objects.exists()
    assert not HashEntry.objects.exists()


def test_a_set_left_importing_by_a_killed_import_is_removed_by_the_next(tmp_path: Path) -> None:
    left = HashSet.objects.create(name="Killed", kind="known-bad", status=HashSet.Status.IMPORTING)
    HashEntry.objects.create(hash_set=left, algorithm=1, digest=ROWS[0][0])
    running = HashSet.objects.create(name="Running", kind="known-bad", status=HashSet.Status.IMPORTING)
    other = connection.copy()  # another session, the running import's, holds its lock
    try:
        with other.cursor() as held:
            held.execute("SELECT pg_advisory_lock(%s, %s)", [services._LOCK_SPACE, running.pk])
            hash_set_import(path=build.plain(tmp_path, ROWS), name="Next", kind="alert")
    finally:
        other.close()
    assert set(HashSet.objects.values_list("name", flat=True)) == {"Running", "Next"}
    assert not HashEntry.objects.filter(hash_set_id=left.pk).exists()


def test_a_name_in_use_an_unknown_kind_format_or_file(tmp_path: Path) -> None:
    path = build.plain(tmp_path, ROWS)
    hash_set_import(path=path, name="Own", kind="alert")
    cases = [
        ({"name": "Own", "kind": "alert"}, "a hash set named 'Own' exists"),
        ({"name": "X", "kind": "evil"}, "no kind 'evil'"),
        ({"name": "X", "kind": "alert", "format": "xls"}, "no format 'xls'"),
        ({"name": " ", "kind": "alert"}, "a name of 1 to 200"),
    ]
    for arguments, message in cases:
        with pytest.raises(HashSetRefused, match=message):
            hash_set_import(path=path, **arguments)
    with pytest.raises(HashSetRefused, match=r"cannot read missing\.txt"):
        hash_set_import(path=tmp_path / "missing.txt", name="X", kind="alert")
    notes = tmp_path / "notes.txt"
    notes.write_text("dear diary\n")
    with pytest.raises(HashSetRefused, match=r"notes\.txt: not a hash list"):
        hash_set_import(path=notes, name="X", kind="alert")
    assert list(HashSet.objects.values_list("name", flat=True)) == ["Own"]
    assert AuditEvent.objects.filter(action="hashset.import", outcome="refused").count() == 6


def test_enable_disable_and_delete_are_audited_and_announced(tmp_path: Path, announced) -> None:
    hash_set_import(path=build.plain(tmp_path, ROWS), name="Own", kind="alert")
    hash_set = HashSet.objects.get()
    hash_set_enable(hash_set=hash_set, enabled=False)
    assert not HashSet.objects.get().enabled
    hash_set_enable(hash_set=hash_set, enabled=True)
    assert HashSet.objects.get().enabled
    hash_set_delete(hash_set=hash_set)
    assert not HashSet.objects.exists()
    assert not HashEntry.objects.exists()
    assert announced == [hash_set.pk] * 4
    events = list(AuditEvent.objects.order_by("pk").values_list("action", "data__entries"))
    assert events == [("hashset.import", 25), ("hashset.disable", 25), ("hashset.enable", 25), ("hashset.delete", 25)]
