"""`manage.py export`'s forms: JSON lines and CSV of a job exactly as before the command gained VICS and CASE/UCO
(the records of jobs.selectors written by records.formats, byte for byte), and one-line refusals for the forms that
do not go together."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from records.formats import records_write
from tests.support.interchange import categorised_case

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("export", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "raw"), [("jsonl", False), ("csv", False), ("csv", True)])
def test_jsonl_and_csv_are_the_records_as_before(tmp_path, fmt, raw):
    job = categorised_case(tmp_path)["job"]
    expected = io.StringIO(newline="")
    records_write(expected, file_instances_for_export(job=job), fmt=fmt, fields=EXPORT_FIELDS, raw=raw)
    assert run(str(job.pk), "--format", fmt, *(["--raw"] if raw else [])) == expected.getvalue()
    saved = tmp_path / f"out.{fmt}"
    run(str(job.pk), "--format", fmt, "-o", str(saved), *(["--raw"] if raw else []))
    assert saved.read_bytes() == expected.getvalue().encode()
    if fmt == "jsonl":
        assert run(str(job.pk)) == expected.getvalue()  # the default format


def test_forms_that_do_not_go_together_are_refused_in_a_line(tmp_path):
    job = categorised_case(tmp_path)["job"]
    refusals = {
        ("--case", "2024-017"): "--format jsonl exports one job: name its JOB_ID (and no --case)",
        (): "--format jsonl exports one job: name its JOB_ID (and no --case)",
        ("--format", "case"): "name a JOB_ID or a --case",
        (str(job.pk), "--case", "2024-404", "--format", "case"): "no such case: 2024-404",
        ("999999", "--format", "vics"): "no such job: 999999",
        (str(job.pk), "--format", "vics", "--raw"): "--raw is for --format csv",
        (str(job.pk), "--format", "case", "--unconfirmed"): "--unconfirmed is for --format vics",
        (str(job.pk), "--format", "case", "-o", str(tmp_path / "no" / "such" / "folder.jsonld")): "cannot write",
        (str(job.pk), "--format", "csv", "-o", str(tmp_path / "no" / "such" / "folder.csv")): "cannot write",
        (str(job.pk), "--format", "csv", "-o", "files\x00.csv"): "a file name has no NUL byte",
        ("--case", "2024-017\x00", "--format", "case"): "no such case: '2024-017\\x00'",
    }
    for args, message in refusals.items():
        with pytest.raises(CommandError, match=re.escape(message)):
            run(*args)
    categorised_case(tmp_path, reference="2024-018")
    with pytest.raises(CommandError, match=f"job {job.pk} is not in case 2024-018"):
        run(str(job.pk), "--case", "2024-018", "--format", "vics")
    # With both, the job of that case.
    assert '"value"' in run(str(job.pk), "--case", "2024-017", "--format", "vics")
