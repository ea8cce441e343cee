"""Re-verification on the web: the job page's button queues a run that a real worker carries out, its page shows the
progress and the entries not verified (escaped, isolated); need-to-know (a stranger gets 404, on the record);
malformed ids are 404."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from tests.support.verification import scanned_job
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD
from verification.models import VerificationRun
from verification.services import verification_execute, verification_start


@pytest.mark.integration
def test_the_button_runs_a_verification_on_a_worker_and_its_page_lists_what_changed(
    transactional_db, workers, client, evidence_dir
):
    lead = get_user_model().objects.create_user(username="lead", email="lead@lab.example", password=PASSWORD)
    job = scanned_job(evidence_dir, owner=lead)
    (evidence_dir / "photos" / "<b>new\u202e.txt").write_bytes(b"added")
    client.force_login(lead)
    page = client.get(reverse("jobs:detail", args=[job.pk]))
    assert reverse("verification:start", args=[job.pk]).encode() in page.content

    started = client.post(reverse("verification:start", args=[job.pk]))
    run = VerificationRun.objects.get(job_number=job.pk)
    assert started.status_code == 302
    assert started["Location"] == reverse("verification:detail", args=[run.pk])
    progress_url = reverse("verification:progress", args=[run.pk])
    done = wait_for(lambda: (p := client.get(progress_url).json())["final"] and p, timeout=60, message="the run")
    assert {k: done[k] for k in ("status", "verified", "new", "missing", "checked", "expected")} == {
        "status": "done", "verified": job.files_seen, "new": 1, "missing": 0, "checked": job.files_seen + 1,
        "expected": job.files_seen}  # fmt: skip

    html = client.get(reverse("verification:detail", args=[run.pk])).content.decode()
    assert "<bdi>photos/&lt;b&gt;new\\u202e.txt</bdi>" in html  # escaped, the override shown, isolated
    assert "\u202e" not in html
    assert (run.via, run.username) == ("web", "lead@lab.example")
    actions = AuditEvent.objects.filter(job_id=job.pk, action__startswith="verify.").values_list("action", "outcome")
    assert sorted(actions) == [("verify.finish", "ok"), ("verify.start", "ok")]


def test_a_stranger_gets_404_everywhere_and_each_refusal_is_on_the_record(job, lead, stranger, client):
    run = verification_start(job=job, actor=None)
    verification_execute(run_id=run.pk)
    client.force_login(stranger)
    urls = [
        ("post", reverse("verification:start", args=[job.pk])),
        ("get", reverse("verification:list", args=[job.pk])),
        ("get", reverse("verification:detail", args=[run.pk])),
        ("get", reverse("verification:progress", args=[run.pk])),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 404, url
    assert VerificationRun.objects.count() == 1
    refused = AuditEvent.objects.filter(outcome="refused", username="stranger@lab.example")
    assert sorted(refused.values_list("action", flat=True)) == ["verify.start", "verify.view", "verify.view",
                                                                "verify.view"]  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "/jobs/abc/verify",
        f"/jobs/{2**70}/verify",
        "/jobs/verifications/abc/",
        f"/jobs/verifications/{2**70}/",
        f"/jobs/verifications/{2**70}/progress",
        "/jobs/verifications/999999/progress",
        f"/jobs/{2**70}/verifications/",
    ],
)
def test_malformed_or_unknown_ids_are_404(lead, client, url):
    client.force_login(lead)
    method = client.post if url.endswith("/verify") else client.get
    assert method(url).status_code == 404


def test_the_run_page_shows_the_counts_and_a_get_cannot_start_a_run(job, lead, client, evidence_dir):
    (evidence_dir / "notes.txt").unlink()
    run = verification_start(job=job, actor=None)
    verification_execute(run_id=run.pk)
    client.force_login(lead)
    html = client.get(reverse("verification:detail", args=[run.pk])).content.decode()
    assert 'data-field="missing">1<' in html
    assert 'data-outcome="missing"' in html
    assert client.get(reverse("verification:start", args=[job.pk])).status_code == 405
    listing = client.get(reverse("verification:list", args=[job.pk])).content.decode()
    assert reverse("verification:detail", args=[run.pk]) in listing


def test_a_job_that_has_not_ended_is_sent_back_to_its_page(job, lead, client):
    from jobs.models import Job

    Job.objects.filter(pk=job.pk).update(status=Job.Status.EXTRACTING)
    client.force_login(lead)
    answer = client.post(reverse("verification:start", args=[job.pk]))
    assert (answer.status_code, answer["Location"]) == (302, reverse("jobs:detail", args=[job.pk]))
    assert not VerificationRun.objects.exists()
