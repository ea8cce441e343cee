"""Security settings: CSRF, the Content-Security-Policy, and `check --deploy` with the distributed settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from api.models import QueuePause
from api.services import api_token_create
from jobs.models import FileInstance, Job
from jobs.services import job_create
from tests.support.cases import make_case
from tests.support.processes import child_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_posts_without_a_csrf_token_are_refused(examiner, sources_root):
    make_case(sources_root / "case")
    job = job_create(name="x", source_path=sources_root / "case", owner=examiner, within=sources_root)
    client = Client(enforce_csrf_checks=True)
    client.force_login(examiner)
    assert client.post(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert client.post(reverse("jobs:new"), {"source": "case", "stages": ["exif"]}).status_code == 403
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_every_page_carries_a_strict_content_security_policy(client, examiner, client_for):
    for response in (client.get(reverse("account_login")), client_for(examiner).get(reverse("jobs:list"))):
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in response["Content-Security-Policy"]
        assert "<script>" not in response.text
        assert " style=" not in response.text


# Documents written to disk to be opened without the web app (the portable case's index.html, the case report): one
# file each, so their style (and the viewer's script) are inline, the viewer's allowed by its own policy by hash alone;
# the report holds no script at all (tests/reports).
STANDALONE = (ROOT / "templates" / "reports" / "portable", ROOT / "templates" / "reports")


def test_no_template_has_inline_script_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        if template.parent in STANDALONE:
            assert template.parent != ROOT / "templates" / "reports" or "<script" not in text, template
            continue
        for inline in ("<script>", "<style", " style=", " onclick=", " onload=", " onerror=", "javascript:"):
            assert inline not in text, (template, inline)


def test_check_deploy_is_clean_with_the_distributed_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "REDIS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="scanner.settings.distributed",
        DJANGO_SECRET_KEY="x7!Qe0" * 12,
        DJANGO_ALLOWED_HOSTS="scanner.lab.example",
        DATABASE_URL="postgres://scanner@127.0.0.1:5432/scanner",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        REDIS_URL="redis://127.0.0.1:6379/1",
    )
    result = child_run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_every_model_is_in_the_admin():
    for app in ("content", "jobs", "api", "verification"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), model


@pytest.mark.django_db
def test_evidence_is_read_only_in_the_admin(make_user, sources_root, examiner):
    make_case(sources_root / "case")
    job = job_create(name="x", source_path=sources_root / "case", owner=examiner, within=sources_root)
    instance = FileInstance.objects.create(job=job, path="a.jpg", kind="file", status="skipped", size=1)
    client = Client()
    client.force_login(make_user("root@example.org", staff=True, superuser=True))
    page = client.get(reverse("admin:jobs_fileinstance_change", args=[instance.pk])).text
    assert 'name="path"' not in page
    assert "a.jpg" in page
    job_page = client.get(reverse("admin:jobs_job_change", args=[job.pk])).text
    assert 'name="name"' in job_page
    assert 'name="source_path"' not in job_page
    assert client.get(reverse("admin:jobs_fileinstance_add")).status_code == 403


@pytest.mark.django_db
def test_api_tokens_can_be_revoked_but_not_made_or_changed_in_the_admin(make_user, examiner):
    token, _secret = api_token_create(user=examiner, name="nightly export")
    pause = QueuePause.objects.create(worker="ml-1@host", queue="faces", paused_by=examiner)
    client = Client()
    client.force_login(make_user("root@example.org", staff=True, superuser=True))
    page = client.get(reverse("admin:api_apitoken_change", args=[token.pk])).text
    for name in ("user", "name", "prefix", "digest", "created_at", "last_used_at"):
        assert f'name="{name}"' not in page, name
    assert token.prefix in page
    assert client.get(reverse("admin:api_apitoken_add")).status_code == 403
    assert client.get(reverse("admin:api_apitoken_delete", args=[token.pk])).status_code == 200
    assert client.get(reverse("admin:api_queuepause_change", args=[pause.pk])).status_code == 200
