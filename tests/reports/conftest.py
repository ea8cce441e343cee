"""Fixtures of the report tests: a team (lead, examiner, reviewer, outsider), the report case of
tests.support.reports under a real evidence folder, and reading a report back (its HTML, a PDF's text)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from tests.support.reports import report_case


def _user(name: str):
    made = get_user_model().objects.create_user(username=name, email=f"{name}@example.org", password="x" * 12)
    EmailAddress.objects.create(user=made, email=made.email, primary=True, verified=True)
    return made


@pytest.fixture
def team(db):
    return {name: _user(name) for name in ("lead", "examiner", "reviewer", "outsider")}


@pytest.fixture
def reported(team, evidence_dir, settings, tmp_path):
    settings.REPORTS_ROOT = tmp_path / "reports"
    return report_case(root=evidence_dir, lead=team["lead"], examiner=team["examiner"], reviewer=team["reviewer"])


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout.decode()


@pytest.fixture
def pdftext():
    return pdf_text
