"""The audit log: sign-ins, actions and evidence handed out in the web app are recorded as their user's, from their
address; refused attempts too; the Django admin shows the log and cannot change it, and neither can anything else;
`manage.py audit` exports it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.urls import reverse

from api.models import ApiToken
from api.services import api_token_create
from audit.models import AuditEvent, AuditSeal
from audit.selectors import AUDIT_FIELDS
from audit.services import audit_record
from jobs.models import FileInstance, Job
from jobs.pipeline.scanning import scan_job
from jobs.samples import write_photo
from jobs.services import job_create
from tests.support.cases import make_case
from tests.support.sources import sources_assigned
from tests.support.web import PASSWORD

pytestmark = pytest.mark.django_db


def events(**filters) -> list[tuple]:
    rows = AuditEvent.objects.filter(**filters).order_by("id")
    return [(e.via, e.username, e.action, e.outcome) for e in rows]


def test_sign_in_failed_sign_in_and_sign_out_are_recorded(client, examiner):
    cache.clear()  # sign-in rate limits live in the cache, which outlives a test run: this test needs none spent
    client.post(reverse("account_login"), {"login": examiner.email, "password": "wrong password"})
    client.post(reverse("account_login"), {"login": examiner.email, "password": PASSWORD})
    client.post(reverse("account_logout"))

    assert events() == [
        ("web", "", "sign-in", "refused"),
        ("web", examiner.email, "sign-in", "ok"),
        ("web", examiner.email, "sign-out", "ok"),
    ]
    failed = AuditEvent.objects.get(outcome="refused")
    assert (failed.target, failed.client, failed.user_id) == (examiner.email, "127.0.0.1", None)
    assert PASSWORD not in str(AuditEvent.objects.values_list())


def test_behind_a_proxy_the_client_address_is_the_one_the_proxy_saw(client, examiner, settings):
    cache.clear()
    forged_and_seen = {"HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.2"}  # the client wrote the first itself
    wrong = {"login": examiner.email, "password": "wrong password"}
    client.post(reverse("account_login"), wrong, **forged_and_seen)
    settings.AUDIT_PROXY_HOPS = 1
    client.post(reverse("account_login"), wrong, **forged_and_seen)
    client.post(reverse("account_login"), wrong)  # no header: the peer's address
    assert [e.client for e in AuditEvent.objects.order_by("id")] == ["127.0.0.1", "198.51.100.2", "127.0.0.1"]


def test_job_actions_and_evidence_handed_out_are_recorded_as_their_users(
    examiner, other, client_for, sources_root, settings
):
    make_case(sources_root / "case")
    sources_assigned(examiner, "case")
    alice = client_for(examiner)
    response = alice.post(reverse("jobs:new"), {"name": "case 7", "source": "case", "stages": ["exif"]})
    job = Job.objects.get(name="case 7")
    assert response.status_code == 302
    notes = sources_root / "case" / "notes.txt"
    st = notes.stat()
    instance = FileInstance.objects.create(
        job=job, path="notes.txt", path_digest=hashlib.sha256(b"notes.txt").hexdigest(), kind="file", size=st.st_size,
        inode=st.st_ino, mime="text/plain", status="skipped", sha256=hashlib.sha256(notes.read_bytes()).hexdigest(),
    )  # fmt: skip
    assert alice.get(reverse("jobs:original", args=[job.pk, instance.pk])).status_code == 200
    alice.post(reverse("jobs:share", args=[job.pk]), {"email": other.email, "role": "reviewer"})

    mine = AuditEvent.objects.filter(user_id=examiner.pk).order_by("id")
    # The job went in the case that holds its source; the share is the membership of that case it is.
    reference = job.case.reference
    assert reference == f"sources-{examiner.pk}"
    assert [(e.action, e.target, e.detail) for e in mine.filter(action__startswith="case.")] == [
        ("case.member.set", reference, f"user {other.pk} ({other.email}): reviewer"),
    ]
    signed_in, created, downloaded, shared = mine.exclude(action__startswith="case.")
    assert signed_in.action == "sign-in"
    assert (created.via, created.action, created.job_id, created.client) == ("web", "job.create", job.pk, "127.0.0.1")
    assert created.data == {
        "source": str(sources_root / "case"),
        "stages": ["exif"],
        "owner": f"user {examiner.pk} ({examiner.email})",
        "case": reference,
    }
    assert (downloaded.action, downloaded.job_id, downloaded.target) == ("file.download", job.pk, "notes.txt")
    assert downloaded.data == {"file_id": instance.pk, "size": st.st_size, "sha256": instance.sha256}
    assert (shared.action, shared.target, shared.data) == (
        "job.share",
        f"user {other.pk} ({other.email})",
        {"role": "reviewer"},
    )

    # Bob, before the share reached him, and then trying to change what he may only see: refused, and recorded.
    bob = client_for(other)
    assert bob.post(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert events(user_id=other.pk) == [
        ("web", other.email, "sign-in", "ok"),
        ("web", other.email, "job.delete", "refused"),
    ]
    assert AuditEvent.objects.get(user_id=other.pk, action="job.delete").detail == "you may not delete this job"
    assert bob.get(reverse("jobs:detail", args=[job.pk + 1000])).status_code == 404
    assert alice.get(reverse("jobs:original", args=[job.pk, instance.pk + 1000])).status_code == 404
    probed = AuditEvent.objects.get(user_id=examiner.pk, outcome="refused")
    assert (probed.action, probed.job_id, probed.data) == ("file.view", job.pk, {"file_id": instance.pk + 1000})
    assert AuditEvent.objects.filter(user_id=other.pk, action="job.view", job_id=job.pk + 1000).exists()

    # The job page shows its history to those who decide who may see the job (alice), not to a reviewer (bob).
    history = alice.get(reverse("jobs:detail", args=[job.pk])).text.split("<h2>History</h2>")[1]
    for line in ("job.create", "file.download", "notes.txt", "job.share", "job.delete", "you may not delete this job"):
        assert line in history
    assert "<h2>History</h2>" not in bob.get(reverse("jobs:detail", args=[job.pk])).text
    # The whole log, as CSV, for alice; not for bob, and his attempt is recorded too. A cell a spreadsheet would run
    # as a formula (evidence names are the suspect's) is made text.
    audit_record("file.view", job_id=job.pk, target='=HYPERLINK("http://x")')
    exported = alice.get(reverse("jobs:history", args=[job.pk]))
    assert exported["Content-Disposition"] == f'attachment; filename="job-{job.pk}-audit.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(row["action"], row["outcome"]) for row in rows] == [
        ("job.create", "ok"),
        ("file.download", "ok"),
        ("job.share", "ok"),
        ("job.delete", "refused"),
        ("file.view", "refused"),
        ("file.view", "ok"),
    ]
    assert rows[-1]["target"] == '\'=HYPERLINK("http://x")'
    assert list(rows[0]) == AUDIT_FIELDS
    assert bob.get(reverse("jobs:history", args=[job.pk])).status_code == 403
    assert [(e.action, e.outcome) for e in AuditEvent.objects.filter(job_id=job.pk).order_by("id")][-2:] == [
        ("audit.export", "ok"),
        ("audit.export", "refused"),
    ]


def test_the_log_cannot_be_changed_or_deleted():
    event = audit_record("job.view", target="x\x00y")
    assert AuditEvent.objects.get(pk=event.pk).target == "x\\x00y"  # PostgreSQL keeps no NUL: written out
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="ok", detail="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


def test_the_admin_shows_the_log_read_only_and_records_its_own_changes(make_user, client_for, examiner):
    boss = make_user("boss@example.org", staff=True, superuser=True)
    _, _ = api_token_create(user=examiner, name="script")
    admin = client_for(boss)
    listing = admin.get(reverse("admin:audit_auditevent_changelist"))
    assert listing.status_code == 200
    assert "token.create" in listing.text
    event = AuditEvent.objects.get(action="token.create")
    assert admin.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert admin.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    assert admin.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"detail": "x"}).status_code == 403
    # The job page's link to a job's whole log.
    listed = admin.get(reverse("admin:audit_auditevent_changelist") + "?job_id=1000000")
    assert (listed.status_code, listed.context["cl"].result_count) == (200, 0)

    # Staff revoking a token in the admin goes around the token services; the admin's own log entry is recorded.
    # The admin deletes one object at a time (a bulk deletion would leave no trace in the audit log).
    tokens = admin.get(reverse("admin:api_apitoken_changelist"))
    assert "delete_selected" not in tokens.text
    token = ApiToken.objects.get(user=examiner)
    admin.post(reverse("admin:api_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert LogEntry.objects.filter(action_flag=DELETION, content_type=ContentType.objects.get_for_model(ApiToken))
    deleted = AuditEvent.objects.get(action="admin.delete")
    assert (deleted.via, deleted.user_id, deleted.target) == ("web", boss.pk, f"apitoken {token.pk}: {token}")


def test_a_job_created_in_a_shell_or_worker_is_recorded_as_the_systems(evidence_dir):
    job = job_create(name="system", source_path=evidence_dir, stages=["exif"])
    assert events(job_id=job.pk) == [("system", "", "job.create", "ok")]


def test_how_each_job_ended_is_in_its_history(evidence_dir):
    write_photo(evidence_dir / "one.jpg", width=32, height=24, seed=1)
    done = job_create(name="done", source_path=evidence_dir, stages=[])
    gone = job_create(name="gone", source_path=evidence_dir, stages=[])
    Job.objects.filter(pk__in=[done.pk, gone.pk]).update(status=Job.Status.QUEUED)
    missing = evidence_dir / "missing"
    Job.objects.filter(pk=gone.pk).update(source_path=str(missing))  # the evidence share went away
    for job in (done, gone):
        scan_job(job_id=job.pk, slice_seconds=60)  # as a worker runs it

    assert events(job_id=done.pk)[-1] == ("system", "", "job.complete", "ok")
    assert AuditEvent.objects.get(action="job.complete").data == {
        "files_seen": 1,
        "images": 1,
        "distinct_images": 1,
        "skipped": 0,
        "errors": 0,
    }
    failed = AuditEvent.objects.get(job_id=gone.pk, action="job.fail")
    assert (failed.via, failed.detail) == ("system", f"source folder is missing or not a folder: {missing}")


def test_a_missing_source_under_the_sources_root_is_named_without_the_servers_folders(settings, evidence_dir):
    settings.SOURCES_ROOT = evidence_dir
    (evidence_dir / "case-7").mkdir()
    job = job_create(name="gone", source_path=evidence_dir / "case-7", stages=[])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    (evidence_dir / "case-7").rmdir()  # the evidence share went away
    scan_job(job_id=job.pk, slice_seconds=60)
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, "source folder is missing or not a folder: case-7")


def test_manage_py_audit_exports_the_log_oldest_first_and_records_that(evidence_dir, examiner, tmp_path):
    job = job_create(name="case 9", source_path=evidence_dir, stages=["exif"], owner=examiner)
    audit_record("file.view", job_id=job.pk, target="a\nb.jpg", file_id=7, sha256="ab" * 32)
    audit_record("file.view", job_id=job.pk + 1, target="elsewhere.jpg")

    out = io.StringIO()
    call_command("audit", "--job", str(job.pk), stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["action"], r["via"], r["job_id"]) for r in lines] == [
        ("job.create", "system", job.pk),
        ("file.view", "system", job.pk),
    ]
    assert list(lines[0]) == AUDIT_FIELDS
    assert lines[1]["data"] == {"file_id": 7, "sha256": "ab" * 32}
    assert datetime.fromisoformat(lines[0]["at"]) <= datetime.fromisoformat(lines[1]["at"])

    saved = tmp_path / "audit.csv"
    call_command("audit", "--format", "csv", "-o", str(saved), "--since", "2000-01-01", stderr=io.StringIO())
    rows = list(csv.DictReader(saved.open(encoding="utf-8", newline="")))
    # The case the job got, the job, the first export too.
    assert [row["target"] for row in rows] == [f"job-{job.pk}", "case 9", "a\nb.jpg", "elsewhere.jpg", ""]
    assert json.loads(rows[2]["data"]) == {"file_id": 7, "sha256": "ab" * 32}
    later = io.StringIO()
    call_command("audit", "--since", "2999-01-01T00:00", stdout=later)
    assert later.getvalue() == ""
    exports = AuditEvent.objects.filter(action="audit.export").order_by("id")
    assert [(e.via, e.job_id, e.data["records"]) for e in exports] == [
        ("cli", job.pk, 2),
        ("cli", None, 5),
        ("cli", None, 0),
    ]
    with pytest.raises(CommandError, match="not a date"):
        call_command("audit", "--since", "yesterday")


def test_asking_for_an_image_face_or_hash_set_that_is_not_there_is_a_recorded_refusal(
    examiner, make_user, client_for, evidence_dir
):
    write_photo(evidence_dir / "a.jpg", width=32, height=24, seed=1)
    job = job_create(name="refusals", source_path=evidence_dir, owner=examiner, stages=[])
    scan_job(job_id=job.pk, slice_seconds=60)
    alice = client_for(examiner)
    missing = 2**31 - 1
    for name, args, action in [
        ("jobs:image", [job.pk, missing], "image.view"),
        ("jobs:image_similar", [job.pk, missing], "image.similar"),
        ("jobs:thumb", [job.pk, missing], "image.thumb"),
        ("jobs:face_crop", [job.pk, missing], "face.view"),
    ]:
        assert alice.get(reverse(name, args=args)).status_code == 404, name
        refusal = AuditEvent.objects.filter(action=action, outcome=AuditEvent.Outcome.REFUSED).get()
        assert (refusal.user_id, refusal.job_id) == (examiner.pk, job.pk)
    staff = client_for(make_user("staff@example.org", staff=True))
    for name, action in [("hashsets:enabled", "hashset.enable"), ("hashsets:delete", "hashset.delete")]:
        assert staff.post(reverse(name, args=[missing]), {"enabled": "1"}).status_code == 404
        refusal = AuditEvent.objects.get(action=action, outcome=AuditEvent.Outcome.REFUSED)
        assert (refusal.target, refusal.detail) == (str(missing), "no such hash set")


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_an_events_place_in_the_hash_chain_read_only(make_user, client_for):
    boss = make_user("boss@example.org", staff=True, superuser=True)
    event = audit_record("job.view", target="a file")  # sealed at once: no transaction is open
    seal = AuditSeal.objects.get(event_id=event.pk)
    page = client_for(boss).get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert seal.hash in page.text
    assert seal.prev_hash in page.text
    assert 'name="chain_hash"' not in page.text  # shown, not an input
    listing = client_for(boss).get(reverse("admin:audit_auditevent_changelist"))
    assert listing.status_code == 200
    assert f'<td class="field-chain_seq">{seal.seq}</td>' in listing.text
