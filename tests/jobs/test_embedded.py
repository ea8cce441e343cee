"""The embedded configuration, as `make demo` runs it: no settings module, no database URL, no broker; SQLite under
SCANNER_VAR_DIR and the same canvas run in-process. Also where permissions are tested for real: the scan runs as
user nobody, for whom an unreadable file or folder is an error to record (root reads through permission bits)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from jobs.samples import make_sample_tree
from tests.support.environment import REPO, embedded_env
from tests.support.evidence_trees import build_unreadable_tree, mismatches
from tests.support.processes import child_run

pytestmark = pytest.mark.integration


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_scan_and_export_run_embedded_with_sqlite_and_no_broker(tmp_path):
    # Batches of two files: discovery writes to SQLite while the stage thread analyses the batches before.
    env = {**embedded_env(tmp_path / "var"), "SCAN_BATCH_FILES": "2"}

    def manage(*args: str) -> subprocess.CompletedProcess:
        done = child_run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    manage("migrate", "--verbosity", "0")
    expected = make_sample_tree(tmp_path / "evidence")
    summary = manage("scan", str(tmp_path / "evidence"), "--name", "embedded").stdout
    assert "job 1: completed" in summary
    records = jsonl(manage("export", "1", "--format", "jsonl").stdout)

    statuses = [r["status"] for r in records]
    assert len(records) == expected["files"]
    assert (statuses.count("image"), statuses.count("skipped"), statuses.count("error")) == (
        expected["images"], expected["skipped"], expected["errors"],
    )  # fmt: skip
    assert len({r["sha256"] for r in records if r["status"] == "image"}) == expected["distinct"]
    assert {r["camera_make"] for r in records if r["status"] == "image"} >= {"Canon", "Apple", "SONY"}
    database = tmp_path / "var" / "scanner.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("select status, files_seen from jobs_job").fetchall() == [("completed", expected["files"])]
        assert db.execute("select count(*) from gallery_exifdata").fetchone() == (expected["distinct"],)


def test_unreadable_file_and_folder_are_recorded_when_scanned_as_nobody(evidence_folder, nobody):
    expected = build_unreadable_tree(evidence_folder)
    var_dir = evidence_folder.parent / "var"  # outside the source, writable by nobody alone
    var_dir.mkdir()
    os.chown(var_dir, nobody.uid, nobody.gid)
    env = embedded_env(var_dir)

    def manage(*args: str) -> subprocess.CompletedProcess:
        done = nobody.run(["manage.py", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    manage("migrate", "--verbosity", "0")
    summary = manage("scan", str(evidence_folder), "--name", "as nobody").stdout
    assert "job 1: completed" in summary
    records = jsonl(manage("export", "1", "--format", "jsonl").stdout)
    found = {r["path"].encode(): r for r in records}
    assert mismatches(found, expected) == []
    assert (var_dir / "scanner.sqlite3").stat().st_uid == nobody.uid


def test_scan_on_a_never_migrated_embedded_database_migrates_it_first(tmp_path):
    make_sample_tree(tmp_path / "evidence")
    done = subprocess.run([sys.executable, "manage.py", "scan", str(tmp_path / "evidence")], cwd=REPO,
                          env=embedded_env(tmp_path / "var"), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[0] == "migrating the embedded database (first run or after an upgrade)"
    assert "job 1: completed" in done.stdout


def test_scan_on_a_never_migrated_server_database_says_in_one_line_what_to_run(tmp_path):
    # A configuration with workers (the test settings) does not migrate a database it shares: it says so.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scanner.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", "scan", str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "CommandError: the database is not migrated: run python manage.py migrate first\n"
