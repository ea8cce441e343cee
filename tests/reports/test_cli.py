"""`manage.py report`: the file written, its SHA-256 printed and recorded, the manifest's SHA-256 the one the report
gives, and bad input refused with a one-line CommandError (refusals on the record)."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("report", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_report_is_written_and_its_sha256_printed_and_recorded(reported, tmp_path, pdftext):
    target = tmp_path / "case.pdf"
    printed = _run("--case", "2024-017", "--format", "pdf", "-o", str(target), "--user", "lead@example.org",
                   "--sections", "case,manifest,gps")  # fmt: skip
    sha = hashlib.sha256(target.read_bytes()).hexdigest()
    assert printed.split() == [sha, str(target)]
    text = pdftext(target)
    assert "Case and exhibits" in text
    assert "Categorised images" not in text
    event = AuditEvent.objects.get(action="report.create", outcome="ok")
    assert event.via == "cli"
    assert event.username == "lead@example.org"
    assert event.data["sha256"] == sha
    assert event.data["sections"] == ["case", "manifest", "gps"]


def test_the_manifest_written_hashes_to_the_sha256_the_report_gives(reported, tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    printed = _run("--job", str(reported.job.pk), "--manifest", "-o", str(manifest))
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert printed.split()[0] == sha
    assert len(manifest.read_bytes().splitlines()) == 4
    html = tmp_path / "job.html"
    _run("--job", str(reported.job.pk), "-o", str(html), "--sections", "manifest")
    assert sha in html.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "nope"], "no such case"),
        (["--job", "0"], "no such job"),
        (["--job", str(2**70)], "no such job"),
        (["--case", "2024-017", "--sections", "case,bogus"], "unknown sections: bogus"),
        (["--case", "2024-017", "--user", "outsider@example.org"], "no case '2024-017' you may see"),
        (["--case", "2024-017", "--user", "nobody@example.org"], "no single active user"),
        (["--case", "2024-017", "--manifest"], "--manifest needs --job"),
    ],
)
def test_bad_input_is_a_command_error(reported, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args, "-o", str(tmp_path / "r.html"))
    assert not (tmp_path / "r.html").exists()


def test_an_output_folder_that_does_not_exist_is_a_command_error(reported, tmp_path):
    with pytest.raises(CommandError, match="no such folder"):
        _run("--case", "2024-017", "-o", str(tmp_path / "missing" / "r.html"))


def test_a_refused_report_is_on_the_record(reported, tmp_path):
    with pytest.raises(CommandError):
        _run("--job", str(reported.job.pk), "--user", "outsider@example.org", "-o", str(tmp_path / "r.html"))
    refused = AuditEvent.objects.get(action="report.create", outcome="refused")
    assert refused.via == "cli"
    assert refused.username == "outsider@example.org"


def test_an_output_that_is_a_folder_or_lies_in_evidence_is_a_command_error(reported, tmp_path, settings):
    settings.SOURCES_ROOT = tmp_path / "sources"
    (tmp_path / "sources" / "phone").mkdir(parents=True)
    with pytest.raises(CommandError, match="is a folder"):
        _run("--case", "2024-017", "-o", str(tmp_path))
    for inside in (reported.root / "r.html", tmp_path / "sources" / "phone" / "r.html"):
        for args in (["--case", "2024-017"], ["--job", str(reported.job.pk), "--manifest"]):
            with pytest.raises(CommandError, match="lies in evidence"):
                _run(*args, "-o", str(inside))
            assert not inside.exists()
    assert not AuditEvent.objects.filter(action__in=["report.create", "job.manifest"]).exists()
