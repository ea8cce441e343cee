"""A web build's life: claimed once by a conditional update, a build left behind by a dead worker marked failed
when its progress is read, an unexpected failure shown without its detail (logged), and the files of deleted
reports removed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports.models import Report
from reports.services import report_build

pytestmark = pytest.mark.django_db


def _asked(reported, user, **more) -> Report:
    return Report.objects.create(case=reported.case, requested_by=user, sections=["case"], format="html", **more)


def test_a_build_left_behind_by_a_dead_worker_is_failed_when_its_progress_is_read(reported, team, settings):
    long_ago = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    stalled = _asked(reported, team["lead"], status=Report.Status.BUILDING, started_at=long_ago)
    running = _asked(reported, team["lead"], status=Report.Status.BUILDING, started_at=timezone.now())
    client = Client()
    client.force_login(team["lead"])
    shown = client.get(reverse("casework:report_progress", args=[reported.case.pk, stalled.pk])).json()
    assert shown["status"] == "failed"
    assert "ask for the report again" in shown["error"]
    running.refresh_from_db()
    assert running.status == Report.Status.BUILDING
    # A redelivered task finds it taken: nothing is built twice.
    report_build(report_id=running.pk)
    running.refresh_from_db()
    assert (running.status, running.file_name) == (Report.Status.BUILDING, "")


def test_an_unexpected_failure_is_shown_without_its_detail(reported, team, settings, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.REPORTS_ROOT = blocker
    report = _asked(reported, team["lead"])
    report_build(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == Report.Status.FAILED
    assert report.error == "the report could not be built (logged): NotADirectoryError"
    assert str(blocker) in caplog.text


def test_the_file_of_a_deleted_report_is_removed(reported, team, settings):
    first = _asked(reported, team["lead"])
    report_build(report_id=first.pk)
    first.refresh_from_db()
    path = settings.REPORTS_ROOT / first.file_name
    assert path.is_file()
    Report.objects.filter(pk=first.pk).delete()  # as deleting its job or case does (cascade)
    second = _asked(reported, team["lead"])
    report_build(report_id=second.pk)
    assert not path.exists()
    second.refresh_from_db()
    assert (settings.REPORTS_ROOT / second.file_name).is_file()
