"""The case report in the embedded configuration (`make demo`: SQLite, no broker): a scanned folder's default report
is built there (nothing in it needs PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.samples import make_sample_tree
from tests.support.environment import REPO, embedded_env
from tests.support.processes import child_run

pytestmark = pytest.mark.integration


def test_a_default_report_is_built_under_the_embedded_sqlite_settings(tmp_path):
    env = embedded_env(tmp_path / "var")

    def manage(*args: str) -> subprocess.CompletedProcess:
        done = child_run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    manage("migrate", "--verbosity", "0")
    make_sample_tree(tmp_path / "evidence")
    manage("scan", str(tmp_path / "evidence"), "--name", "embedded", "--case", "2024-001")
    target = tmp_path / "report.html"
    printed = manage("report", "--case", "2024-001", "-o", str(target)).stdout
    html = target.read_text()
    assert printed.split()[1] == str(target)
    assert '<section id="gps">' in html
    assert "images with a GPS position" in html
