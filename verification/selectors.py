"""Reading verification runs: progress, a job's runs, and the entries a run could not verify."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from verification.models import VerificationFile, VerificationRun
from verification.services import COUNTS

# The fields of the per-file result (`manage.py verify -o`): a stable contract.
FILE_FIELDS = (
    "path", "outcome", "detail", "expected_sha256", "actual_sha256", "expected_size", "actual_size",
    "expected_mtime", "actual_mtime", "expected_mode", "actual_mode",
)  # fmt: skip


def verification_progress(*, run: VerificationRun) -> dict[str, Any]:
    """What the job page and the CLI show while a run goes on, read from the database."""
    run.refresh_from_db()
    return {
        "verification": run.pk,
        "job": run.job_number,
        "status": run.status,
        "final": run.status in VerificationRun.FINAL,
        "expected": run.expected,
        "checked": run.checked,
        "not_verified": run.not_verified,
        "error": run.error,
        **{name: getattr(run, name) for name in COUNTS},
    }


def verifications_of_job(*, job_id: int) -> QuerySet[VerificationRun]:
    return VerificationRun.objects.filter(job_number=job_id)


def verification_files(*, run: VerificationRun) -> QuerySet[VerificationFile]:
    return VerificationFile.objects.filter(run=run)


def verification_records(*, run: VerificationRun) -> Iterator[dict[str, Any]]:
    """One record per entry not verified, in FILE_FIELDS, read a chunk at a time."""
    for row in verification_files(run=run).values(*FILE_FIELDS).iterator(chunk_size=2000):
        for name in ("expected_mtime", "actual_mtime"):
            row[name] = row[name].isoformat() if row[name] is not None else None
        yield row
