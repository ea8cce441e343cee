"""The case page's reports: asked for with the form, built by a real worker on the `jobs` queue, followed through the
JSON progress endpoint, downloaded as an attachment with its SHA-256 (audited); a user follows and downloads their
own reports only, in cases they may see; malformed ids and posts are 404 or a refusal on the record, never a 500."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from reports.models import Report
from reports.services import report_build
from tests.support.reports import report_case
from tests.support.waiting import wait_for


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _urls(case_id: int, report_id: int) -> tuple[str, str]:
    return (
        reverse("casework:report_progress", args=[case_id, report_id]),
        reverse("casework:report_download", args=[case_id, report_id]),
    )


@pytest.mark.integration
def test_a_report_asked_for_on_the_case_page_is_built_by_a_worker_and_downloaded(
    workers, transactional_db, team, evidence_dir
):
    # The worker and this process share REPORTS_ROOT from the environment (whichever worker on `jobs` builds it).
    reported = report_case(root=evidence_dir, lead=team["lead"], examiner=team["examiner"], reviewer=team["reviewer"])
    case = reported.case
    lead = _client(team["lead"])
    page = lead.get(reverse("casework:detail", args=[case.pk]))
    assert page.status_code == 200
    assert b'data-testid="report-form"' in page.content
    posted = lead.post(
        reverse("casework:report_new", args=[case.pk]),
        {"sections": ["case", "categories", "gps"], "format": "pdf", "job": ""},
    )
    assert posted.status_code == 302
    report = Report.objects.get(case=case)
    progress, download = _urls(case.pk, report.pk)
    try:
        wait_for(
            lambda: Report.objects.filter(pk=report.pk, status__in=["done", "failed"]).exists(),
            timeout=120,
            message="the report to be built",
        )
        report.refresh_from_db()
        assert report.status == "done", report.error
        shown = lead.get(progress).json()
        assert shown["status"] == "done"
        assert shown["sha256"] == report.sha256
        assert shown["done"] == shown["total"]
        response = lead.get(download)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == "application/pdf"
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == report.sha256 == response["X-Content-SHA256"]
        page = lead.get(reverse("casework:detail", args=[case.pk]))
        assert report.sha256.encode() in page.content
        created = AuditEvent.objects.get(action="report.create", outcome="ok")
        assert created.via == "web"
        assert created.username == "lead@example.org"
        assert created.data["sha256"] == report.sha256
        assert AuditEvent.objects.filter(action="report.download", outcome="ok").count() == 1
    finally:
        shutil.rmtree(Path(settings.REPORTS_ROOT) / f"case-{case.pk}", ignore_errors=True)


@pytest.fixture
def built(reported, team, settings, tmp_path):
    """A report of the case the lead asked for on the page, built here (the service the task calls)."""
    lead = _client(team["lead"])
    lead.post(reverse("casework:report_new", args=[reported.case.pk]), {"sections": ["case"], "format": "html"})
    report = Report.objects.get(case=reported.case)
    report_build(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == "done", report.error
    return report


@pytest.mark.django_db
def test_only_the_requester_follows_and_downloads_a_report(built, team, reported):
    progress, download = _urls(reported.case.pk, built.pk)
    assert _client(team["lead"]).get(download).status_code == 200
    for name in ("examiner", "outsider"):  # another member; no member at all
        client = _client(team[name])
        assert client.get(progress).status_code == 404
        assert client.get(download).status_code == 404
    refused = AuditEvent.objects.filter(action="report.download", outcome="refused")
    assert refused.count() == 2


@pytest.mark.django_db
def test_a_member_removed_since_may_not_download_their_report(built, team, reported):
    from cases.models import CaseMember

    CaseMember.objects.filter(case=reported.case, user=team["examiner"]).delete()
    Report.objects.filter(pk=built.pk).update(requested_by=team["examiner"])
    _, download = _urls(reported.case.pk, built.pk)
    assert _client(team["examiner"]).get(download).status_code == 404


@pytest.mark.django_db
def test_malformed_ids_and_posts_are_404_or_refused(built, team, reported, evidence_dir):
    lead = _client(team["lead"])
    case_id = reported.case.pk
    for url in (
        f"/cases/{case_id}/reports/{2**70}/progress",
        f"/cases/{case_id}/reports/{2**70}/download",
        f"/cases/{case_id}/reports/0/download",
        f"/cases/{case_id}/reports/x/progress",
        f"/cases/{2**70}/reports/{built.pk}/download",
    ):
        assert lead.get(url).status_code == 404, url
    new = reverse("casework:report_new", args=[case_id])
    refused = lead.post(new, {"sections": ["case", "nope"], "format": "docx"})
    assert refused.status_code == 302
    assert AuditEvent.objects.filter(action="report.create", outcome="refused").count() == 1
    other_root = evidence_dir.parent / "other"
    other_root.mkdir()
    other = report_case(root=other_root, lead=team["outsider"], examiner=team["examiner"],
                        reviewer=team["reviewer"], reference="2024-099", seed=7)  # fmt: skip
    # A job of another case (one the lead may not see) named in this case's form: not offered, refused.
    assert lead.post(new, {"sections": ["case"], "format": "html", "job": str(other.job.pk)}).status_code == 302
    assert lead.post(new, {"sections": ["case"], "format": "html", "job": str(2**70)}).status_code == 302
    assert Report.objects.count() == 1
    # The page of a case the user is not in: 404, and nothing asked for.
    assert lead.post(reverse("casework:report_new", args=[other.case.pk]), {"sections": ["case"]}).status_code == 404
