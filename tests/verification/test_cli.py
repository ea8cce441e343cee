"""`manage.py verify`: the summary, the per-file result file (CSV neutralises what a spreadsheet would run), the exit
status, and need-to-know (a stranger is refused, on the record)."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from verification.models import VerificationRun


def _verify(*args: str) -> str:
    out = StringIO()
    call_command("verify", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_verified_job_exits_zero_with_a_summary(job, lead):
    out = _verify(str(job.pk), "--as", "lead")
    assert f"verifying {job.files_seen} entries" in out
    summary = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 3
    }
    assert summary == {"verified": str(job.files_seen), "changed hash": "0", "changed metadata": "0",
                       "missing": "0", "new": "0", "unreadable": "0"}  # fmt: skip
    run = VerificationRun.objects.get(job_number=job.pk)
    assert (run.via, run.username, run.status, run.verified) == ("cli", "lead@lab.example", "done", job.files_seen)


def test_the_operator_verifies_any_job_without_naming_a_member(job):
    out = _verify(str(job.pk))
    assert f"verifying {job.files_seen} entries" in out
    run = VerificationRun.objects.get(job_number=job.pk)
    assert (run.via, run.user_id, run.status, run.verified) == ("cli", None, "done", job.files_seen)
    started = AuditEvent.objects.get(action="verify.start", outcome="ok")
    assert (started.via, started.user_id, started.job_id) == ("cli", None, job.pk)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_entries_not_verified_are_written_and_the_exit_status_says_so(job, lead, evidence_dir, tmp_path, fmt):
    (evidence_dir / "=HYPERLINK(1).txt").write_bytes(b"new")
    (evidence_dir / "notes.txt").write_bytes(b"other notes\n")
    output = tmp_path / f"result.{fmt}"
    with pytest.raises(CommandError, match="2 entries not verified") as refused:
        _verify(str(job.pk), "--as", "lead", "-o", str(output))
    assert refused.value.returncode == 2
    text = output.read_text(encoding="utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [(r["path"], r["outcome"]) for r in rows] == [
            ("'=HYPERLINK(1).txt", "new"),
            ("notes.txt", "changed_hash"),
        ]
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert [(r["path"], r["outcome"]) for r in rows] == [
            ("=HYPERLINK(1).txt", "new"),
            ("notes.txt", "changed_hash"),
        ]
        assert rows[1]["expected_size"] == len(b"notes\n")
        assert rows[1]["actual_size"] == len(b"other notes\n")


@pytest.mark.parametrize(
    ("job_arg", "member", "message"),
    [
        ("abc", "lead", "not a job id: 'abc'"),
        ("999999", "lead", "no job 999999 you may see"),
        (str(2**70), "lead", f"no job {2**70} you may see"),
        ("{job}", "stranger", "no job {job} you may see"),
        ("{job}", "ghost", "no single active user with user name or verified address 'ghost'"),
    ],
)
def test_a_bad_job_or_a_stranger_is_a_clear_error_and_a_refusal_is_on_the_record(job, stranger, job_arg, member,
                                                                                  message):  # fmt: skip
    job_arg, message = job_arg.format(job=job.pk), message.format(job=job.pk)
    with pytest.raises(CommandError) as refused:
        _verify(job_arg, "--as", member)
    assert str(refused.value) == message
    assert not VerificationRun.objects.exists()
    if job_arg != "abc":
        event = AuditEvent.objects.get(action="verify.start")
        assert (event.outcome, event.via) == ("refused", "cli")


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_is_a_bar(job, lead):
    out = _Terminal()
    call_command("verify", str(job.pk), "--as", "lead", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert f"{job.files_seen}/{job.files_seen}" in text
    assert "━" in text


@pytest.mark.parametrize("status", ["scanning", "failed", "cancelled"])
def test_a_job_that_has_not_completed_is_refused_on_the_record(job, lead, status):
    from jobs.models import Job

    Job.objects.filter(pk=job.pk).update(status=status)
    why = f"job {job.pk} is {status}: only a completed job has a whole manifest to verify"
    with pytest.raises(CommandError, match=why):
        _verify(str(job.pk), "--as", "lead")
    assert not VerificationRun.objects.exists()
    assert AuditEvent.objects.filter(action="verify.start", outcome="refused", job_id=job.pk).exists()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("missing/result.csv", "its folder does not exist"),
        (".", "is a folder"),
        ("source/result.csv", "lies in the evidence"),
        ("sources/result.csv", "lies in the evidence"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_run(job, evidence_dir, settings, where, why):
    settings.SOURCES_ROOT = evidence_dir.parent / "sources"
    settings.SOURCES_ROOT.mkdir()
    with pytest.raises(CommandError, match=why):
        _verify(str(job.pk), "-o", str(evidence_dir.parent / where))
    assert not VerificationRun.objects.exists()
    assert not (evidence_dir / "result.csv").exists()
