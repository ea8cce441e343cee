"""Fixtures of the re-verification tests: a lead, a stranger, and a job the lead scanned."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.support.verification import scanned_job
from tests.support.web import PASSWORD


@pytest.fixture
def lead(db):
    return get_user_model().objects.create_user(username="lead", email="lead@lab.example", password=PASSWORD)


@pytest.fixture
def stranger(db):
    return get_user_model().objects.create_user(username="stranger", email="stranger@lab.example", password=PASSWORD)


@pytest.fixture
def job(lead, evidence_dir):
    return scanned_job(evidence_dir, owner=lead)
