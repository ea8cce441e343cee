"""`manage.py hashsets`: import with its report of malformed lines, list, enable, disable, delete; one-line errors;
audited as done at the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from hashsets import services
from hashsets.models import HashSet
from tests.support import hashsets as build

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = build.digests(4)


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("hashsets", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_reports_counts_and_malformed_lines_then_list(tmp_path: Path) -> None:
    path = build.hashdeep(tmp_path, ROWS, extra_lines=["1,zz,zz,/x"])
    out, err = _run("import", str(path), "--name", "Seized 2024", "--kind", "known-bad", "--category", "A")
    hash_set = HashSet.objects.get()
    assert (
        "imported Seized 2024 (known-bad, hashdeep): 8 entries, 1 malformed lines, "
        f"source SHA-256 {hash_set.source_sha256}" in out
    )
    assert err.splitlines() == ["  line 10: MD5: not a hexadecimal hash", "  line 10: SHA256: not a hexadecimal hash"]
    assert hash_set.category == "A"
    event = AuditEvent.objects.get(action="hashset.import")
    assert (event.via, event.outcome) == ("cli", "ok")
    out, _ = _run("list")
    assert out.split("\t")[:5] == ["Seized 2024", "known-bad", "ready", "enabled", "8 entries"]


def test_enable_disable_delete_by_name(tmp_path: Path) -> None:
    _run("import", str(build.plain(tmp_path, ROWS)), "--name", "Own", "--kind", "alert", "--format", "plain")
    assert _run("disable", "Own")[0] == "disabled Own\n"
    assert not HashSet.objects.get().enabled
    assert _run("enable", "Own")[0] == "enabled Own\n"
    assert _run("delete", "Own")[0] == "deleted Own\n"
    assert not HashSet.objects.exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "via"))
    assert actions == [(a, "cli") for a in ("hashset.import", "hashset.disable", "hashset.enable", "hashset.delete")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("enable", "Nope"), "no hash set named 'Nope'"),
        (("import", "/nonexistent/list.txt", "--name", "X", "--kind", "alert"), "no such file: /nonexistent/list.txt"),
        (("import", "{notes}", "--name", "X", "--kind", "alert"), "notes.txt: not a hash list of any format known"),
        (("import", "{notes}", "--name", "X", "--kind", "alert", "--as", "ghost"), "no such user: ghost"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("dear diary\n")
    with pytest.raises(CommandError) as raised:
        _run(*(arg.replace("{notes}", str(notes)) for arg in args))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert not HashSet.objects.exists()


def test_ctrl_c_removes_the_set_and_says_so(tmp_path: Path, monkeypatch) -> None:
    def interrupted(model, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "bulk_insert", interrupted)
    with pytest.raises(CommandError, match="interrupted: the set and its entries were removed"):
        _run("import", str(build.plain(tmp_path, ROWS)), "--name", "Own", "--kind", "alert")
    assert not HashSet.objects.exists()
