"""Who may see and change a job, checked over HTTP against a job scanned by real workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import user_label
from content.models import Face
from jobs import services
from jobs.models import FileInstance, Job, JobImage, JobShare, StageProgress
from jobs.samples import make_sample_tree
from jobs.services import job_create, job_share
from tests.support.cases import store_ml_results
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def job_urls(job: Job) -> dict[str, list[str]]:
    """Every route that shows or changes something of the job, by method."""
    image_id = JobImage.objects.filter(job=job).values_list("image_id", flat=True).first()
    image_file = FileInstance.objects.filter(job=job, status="image").first()
    error_file = FileInstance.objects.filter(job=job, status="error").first()
    j = job.pk
    get = [
        reverse("jobs:detail", args=[j]),
        reverse("jobs:progress", args=[j]),
        reverse("jobs:gallery", args=[j]),
        reverse("jobs:gallery_more", args=[j]) + "?sort=size",
        reverse("jobs:gallery_options", args=[j]),
        reverse("jobs:map", args=[j]),
        reverse("jobs:map_points", args=[j]),
        reverse("jobs:image", args=[j, image_id]),
        reverse("jobs:thumb", args=[j, image_id]),
        reverse("jobs:preview", args=[j, image_id]),
        reverse("jobs:original", args=[j, image_file.pk]),
        reverse("jobs:original", args=[j, image_file.pk]) + "?download=1",
        reverse("jobs:original", args=[j, error_file.pk]) + "?download=1",
    ]
    change = [
        reverse("jobs:start", args=[j]),
        reverse("jobs:cancel", args=[j]),
        reverse("jobs:rerun", args=[j]),
        reverse("jobs:delete", args=[j]),
    ]
    share = [reverse("jobs:share", args=[j]), reverse("jobs:unshare", args=[j, job.owner_id])]
    return {"get": get, "change": change, "share": share}


def test_another_user_gets_404_on_everything_of_a_job(scan, examiner, other, client_for):
    job = scan(examiner)
    urls = job_urls(job)
    bob = client_for(other)
    alice = client_for(examiner)

    for url in urls["get"]:
        assert alice.get(url).status_code == 200, url
        assert bob.get(url).status_code == 404, url
    assert bob.get(reverse("jobs:delete", args=[job.pk])).status_code == 404
    for url in urls["change"] + urls["share"]:
        assert bob.post(url, {"email": "bob@example.org", "role": "full"}).status_code == 404, url
    assert f'data-job="{job.pk}"' not in bob.get(reverse("jobs:list")).text
    assert f'data-job="{job.pk}"' in alice.get(reverse("jobs:list")).text
    assert Job.objects.filter(pk=job.pk, status=Job.Status.COMPLETED).exists()
    assert not JobShare.objects.exists()


def test_an_image_is_served_only_through_a_job_that_found_it(scan, examiner, other, client_for, sources_root):
    alices = scan(examiner, name="alice-case")
    (sources_root / "bob-case").mkdir()
    from jobs.samples import write_photo

    write_photo(sources_root / "bob-case" / "own.jpg", seed=4242)
    bobs = scan(other, name="bob-case")
    bob = client_for(other)
    alice_image = JobImage.objects.filter(job=alices).values_list("image_id", flat=True).first()
    alice_file = FileInstance.objects.filter(job=alices, status="image").first()
    bob_image = JobImage.objects.get(job=bobs).image_id

    assert bob.get(reverse("jobs:thumb", args=[bobs.pk, bob_image])).status_code == 200
    # Naming one's own job does not open another job's image or file.
    assert bob.get(reverse("jobs:thumb", args=[bobs.pk, alice_image])).status_code == 404
    assert bob.get(reverse("jobs:preview", args=[bobs.pk, alice_image])).status_code == 404
    assert bob.get(reverse("jobs:image", args=[bobs.pk, alice_image])).status_code == 404
    assert bob.get(reverse("jobs:original", args=[bobs.pk, alice_file.pk])).status_code == 404


def test_a_reviewer_reads_but_cannot_change_and_a_full_share_can(scan, examiner, other, make_user, client_for):
    job = scan(examiner)
    urls = job_urls(job)
    carol = make_user("carol@example.org")
    alice = client_for(examiner)
    assert (
        alice.post(reverse("jobs:share", args=[job.pk]), {"email": "BOB@example.org", "role": "reviewer"}).status_code
        == 302
    )
    assert alice.post(reverse("jobs:share", args=[job.pk]), {"email": carol.email, "role": "full"}).status_code == 302
    assert JobShare.objects.get(job=job, user=other).role == "reviewer"

    bob = client_for(other)
    for url in urls["get"]:
        assert bob.get(url).status_code == 200, url
    assert f'data-job="{job.pk}"' in bob.get(reverse("jobs:list")).text
    for url in urls["change"] + urls["share"]:
        assert bob.post(url, {"email": "carol@example.org", "role": "reviewer"}).status_code == 403, url
    assert bob.get(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()

    carol_client = client_for(carol)
    assert carol_client.post(urls["share"][0], {"email": "bob@example.org", "role": "full"}).status_code == 403
    assert carol_client.post(reverse("jobs:delete", args=[job.pk])).status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()


def test_scanning_again_keeps_the_owner_and_shares_and_links_what_was_analysed(
    scan, examiner, other, make_user, client_for, tmp_path
):
    job = scan(examiner)
    carol = make_user("carol@example.org")
    JobShare.objects.create(job=job, user=other, role="reviewer")
    JobShare.objects.create(job=job, user=carol, role="full")
    assert client_for(other).post(reverse("jobs:rerun", args=[job.pk])).status_code == 403

    response = client_for(carol).post(reverse("jobs:rerun", args=[job.pk]))
    rerun = Job.objects.get(rerun_of=job)
    assert response["Location"] == reverse("jobs:detail", args=[rerun.pk])
    wait_for(lambda: Job.objects.filter(pk=rerun.pk, status__in=Job.FINAL).exists(), message="the second scan")
    rerun.refresh_from_db()
    assert (rerun.status, rerun.owner, rerun.name, rerun.run_config.stages) == (
        Job.Status.COMPLETED,
        examiner,
        job.name,
        job.run_config.stages,
    )
    assert set(rerun.shares.values_list("user", "role")) == {(other.pk, "reviewer"), (carol.pk, "full")}
    assert rerun.distinct_images == job.distinct_images
    exif = StageProgress.objects.get(job=rerun, stage="exif")
    assert exif.reused == exif.total == job.distinct_images  # linked, not analysed again
    done = AuditEvent.objects.get(action="job.rerun")
    assert (done.user_id, done.job_id, done.data) == (carol.pk, rerun.pk, {"rerun_of": job.pk})
    page = client_for(examiner).get(reverse("jobs:detail", args=[rerun.pk])).text
    assert f'scan again of <a href="{reverse("jobs:detail", args=[job.pk])}">#{job.pk}</a>' in page

    # The source is resolved again, as for a new job: a case folder swapped for a link out of the sources root
    # is not scanned.
    folder = Path(job.source_path)
    moved = folder.with_name("case-moved")
    folder.rename(moved)
    folder.symlink_to(tmp_path)
    refused = client_for(examiner).post(reverse("jobs:rerun", args=[job.pk]), follow=True)
    assert "The source cannot be scanned again: the source leads out of the sources folder" in refused.text
    # Nor is one swapped for a link to another folder of the root: that is another case.
    folder.unlink()
    folder.symlink_to(moved)
    refused = client_for(examiner).post(reverse("jobs:rerun", args=[job.pk]), follow=True)
    # Named within the sources folder: the message names no server path (the API shows it too).
    assert f"The source cannot be scanned again: {folder.name} now leads to {moved.name}" in refused.text
    assert Job.objects.filter(rerun_of=job).count() == 1
    failed = AuditEvent.objects.filter(action="job.rerun", outcome="failed", job_id=job.pk, user_id=examiner.pk)
    assert failed.count() == 2


def test_staff_see_every_job(scan, examiner, make_user, client_for):
    job = scan(examiner)
    staff = client_for(make_user("lead@example.org", staff=True))
    assert f'data-job="{job.pk}"' in staff.get(reverse("jobs:list")).text
    for url in job_urls(job)["get"]:
        assert staff.get(url).status_code == 200, url


def test_signed_out_visitors_are_sent_to_sign_in_everywhere(scan, examiner, client):
    job = scan(examiner)
    urls = job_urls(job)
    for url in [*urls["get"], reverse("jobs:list"), reverse("jobs:new"), reverse("accounts:users"), "/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    for url in urls["change"] + urls["share"]:
        assert client.post(url).status_code == 302, url
    assert Job.objects.filter(pk=job.pk).exists()


def test_the_panel_counts_only_the_other_jobs_the_user_may_see(scan, examiner, other, make_user, client_for):
    alices = scan(examiner, name="case")
    bobs = scan(other, name="case")  # the same evidence, so the same content
    image_id = JobImage.objects.filter(job=alices).values_list("image_id", flat=True).first()
    assert JobImage.objects.filter(job=bobs, image_id=image_id).exists()
    panel = reverse("jobs:image", args=[alices.pk, image_id])
    alice = client_for(examiner)
    staff = client_for(make_user("lead@example.org", staff=True))

    assert alice.get(panel).status_code == 200
    assert "also found by" not in alice.get(panel).text  # Bob's job is not disclosed to Alice
    assert "also found by 1 other job." in staff.get(panel).text
    JobShare.objects.create(job=bobs, user=examiner, role=JobShare.Role.REVIEWER)
    assert "also found by 1 other job." in alice.get(panel).text


def test_a_face_crop_is_served_only_through_a_job_the_user_may_see(scan, examiner, other, client_for, sources_root):
    alices = scan(examiner, name="alice-case")
    (sources_root / "bob-case").mkdir()
    from jobs.samples import write_photo

    write_photo(sources_root / "bob-case" / "own.jpg", seed=4242)
    bobs = scan(other, name="bob-case")
    image_id = JobImage.objects.filter(job=alices).values_list("image_id", flat=True).first()
    store_ml_results(alices, faces={image_id: 2})
    face = Face.objects.get(image_id=image_id, index=1)
    alice = client_for(examiner)
    bob = client_for(other)

    response = alice.get(reverse("jobs:face_crop", args=[alices.pk, face.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == f"crop {image_id} 1".encode()
    assert bob.get(reverse("jobs:face_crop", args=[alices.pk, face.pk])).status_code == 404
    # Naming his own job does not open a face of content his job never found.
    assert bob.get(reverse("jobs:face_crop", args=[bobs.pk, face.pk])).status_code == 404
    assert alice.get(reverse("jobs:face_crop", args=[alices.pk, face.pk + 1000])).status_code == 404


def _admin_job_form(job: Job, share: JobShare, **changes) -> dict:
    """What the Django admin's job form posts for `job` with its one share, with `changes` (a key of `shares-0-`
    for the share's row)."""
    fields = {
        "name": job.name, "description": job.description, "owner": job.owner_id,
        "shares-TOTAL_FORMS": "1", "shares-INITIAL_FORMS": "1", "shares-MIN_NUM_FORMS": "0",
        "shares-MAX_NUM_FORMS": "1000", "shares-0-id": share.pk, "shares-0-job": job.pk,
        "shares-0-user": share.user_id, "shares-0-role": share.role,
    }  # fmt: skip
    fields.update(changes)
    return fields


@pytest.mark.parametrize("change", ["owner", "share deleted", "share moved", "share deleted on its page"])
def test_access_lost_in_the_django_admin_is_revoked_and_audited_as_the_services_do(
    db, evidence_dir, examiner, other, make_user, client_for, mocker, change
):
    """A job given to another owner, or a share removed or given to another user, in the Django admin: whoever lost
    access has their open sockets told (`access_revoked`), and the audit log says it as the services say it."""
    make_sample_tree(evidence_dir)
    job = job_create(name="case", source_path=evidence_dir, owner=examiner)
    share = job_share(job=job, user=other, role="reviewer")
    carol = make_user("carol@example.org")
    boss = make_user("boss@example.org", staff=True, superuser=True)
    admin = client_for(boss)
    revoked = mocker.patch.object(services, "access_revoked", autospec=True)
    before = AuditEvent.objects.order_by("pk").values_list("pk", flat=True).last() or 0

    if change == "share deleted on its page":
        response = admin.post(reverse("admin:jobs_jobshare_delete", args=[share.pk]), {"post": "yes"})
    else:
        form = {
            "owner": {"owner": carol.pk},
            "share deleted": {"shares-0-DELETE": "on"},
            "share moved": {"shares-0-user": carol.pk},
        }[change]
        response = admin.post(reverse("admin:jobs_job_change", args=[job.pk]), _admin_job_form(job, share, **form))
    assert response.status_code == 302, response.content.decode()[-3000:]

    lost, audited = {
        "owner": (examiner, [("job.owner", "case", f"{user_label(examiner)}'s: now {user_label(carol)}'s")]),
        "share deleted": (other, [("job.unshare", f"user {other.pk}", "")]),
        "share deleted on its page": (other, [("job.unshare", f"user {other.pk}", "")]),
        "share moved": (other, [("job.unshare", f"user {other.pk}", ""), ("job.share", user_label(carol), "")]),
    }[change]
    revoked.assert_called_once_with(lost.pk)
    # The admin's own record of the change (admin.*) comes beside them.
    events = AuditEvent.objects.filter(pk__gt=before, action__startswith="job.").order_by("pk")
    assert [(e.action, e.target, e.detail) for e in events] == audited
    assert {(e.job_id, e.user_id) for e in events} == {(job.pk, boss.pk)}
    job.refresh_from_db()
    assert job.owner_id == (carol.pk if change == "owner" else examiner.pk)
    shared_with = {"owner": {other.pk}, "share moved": {carol.pk}}.get(change, set())
    assert set(JobShare.objects.filter(job=job).values_list("user_id", flat=True)) == shared_with


@pytest.mark.django_db
def test_the_django_admin_does_not_share_a_job_with_its_owner(evidence_dir, examiner, make_user, client_for):
    """As the job page refuses it (`job_share`), and a form error rather than a failure."""
    make_sample_tree(evidence_dir)
    job = job_create(name="case", source_path=evidence_dir, owner=examiner)
    admin = client_for(make_user("boss@example.org", staff=True, superuser=True))
    page = admin.post(reverse("admin:jobs_jobshare_add"), {"job": job.pk, "user": examiner.pk, "role": "reviewer"})
    assert page.status_code == 200
    assert "The owner already has every right on the job." in page.text
    assert not JobShare.objects.exists()
