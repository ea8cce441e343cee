"""Who may see and change a job, checked over HTTP against a job scanned by real workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import user_label
from cases.models import CaseMember
from content.models import Face
from jobs.models import FileInstance, Job, JobImage, StageProgress
from jobs.progress import publisher
from jobs.samples import make_sample_tree
from jobs.services import job_create, job_share
from tests.support.cases import store_ml_results
from tests.support.waiting import wait_for
from tests.support.web import job_urls

pytestmark = pytest.mark.integration


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
    assert list(CaseMember.objects.values_list("user", "role")) == [(examiner.pk, "lead")]


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


def test_a_reviewer_reads_but_cannot_change_a_full_share_changes_and_only_the_lead_deletes(
    scan, examiner, other, make_user, client_for
):
    job = scan(examiner)
    urls = job_urls(job)
    carol = make_user("carol@example.org")
    alice = client_for(examiner)
    assert (
        alice.post(reverse("jobs:share", args=[job.pk]), {"email": "BOB@example.org", "role": "reviewer"}).status_code
        == 302
    )
    assert alice.post(reverse("jobs:share", args=[job.pk]), {"email": carol.email, "role": "full"}).status_code == 302
    # A share is a membership of the job's case: full is an examiner.
    members = CaseMember.objects.filter(case=job.case)
    assert set(members.values_list("user", "role")) == {
        (examiner.pk, "lead"), (other.pk, "reviewer"), (carol.pk, "examiner")
    }  # fmt: skip

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
    assert carol_client.get(reverse("jobs:detail", args=[job.pk])).status_code == 200
    assert carol_client.post(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert alice.post(reverse("jobs:delete", args=[job.pk])).status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()


def test_scanning_again_keeps_the_owner_and_case_and_links_what_was_analysed(
    scan, examiner, other, make_user, client_for, tmp_path
):
    job = scan(examiner)
    carol = make_user("carol@example.org")
    job_share(job=job, user=other, role="reviewer")
    job_share(job=job, user=carol, role="full")
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
    assert rerun.case_id == job.case_id  # its members with it
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
    job_share(job=bobs, user=examiner, role="reviewer")
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


def _admin_case_form(member: CaseMember, **changes) -> dict:
    """What the Django admin's case form posts for the case of `member`, with that one membership shown (`changes`:
    a key of `members-0-` for its row)."""
    case = member.case
    fields = {
        "title": case.title, "description": case.description,
        "members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "1", "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000", "members-0-id": member.pk, "members-0-case": case.pk,
        "members-0-user": member.user_id, "members-0-role": member.role,
    }  # fmt: skip
    fields.update(changes)
    return fields


@pytest.mark.parametrize("change", ["owner", "member deleted", "member moved", "member deleted on its page"])
def test_access_lost_in_the_django_admin_is_revoked_and_audited_as_the_services_do(
    db, evidence_dir, examiner, other, make_user, client_for, mocker, change
):
    """A job given to another owner, or a membership of its case removed or given to another user, in the Django
    admin: whoever lost access has their open sockets told (`access_revoked`), and the audit log says it as the
    services say it."""
    make_sample_tree(evidence_dir)
    job = job_create(name="case", source_path=evidence_dir, owner=examiner)
    member = job_share(job=job, user=other, role="reviewer")
    carol = make_user("carol@example.org")
    boss = make_user("boss@example.org", staff=True, superuser=True)
    admin = client_for(boss)
    revoked = mocker.patch.object(publisher, "access_revoked", autospec=True)
    before = AuditEvent.objects.order_by("pk").values_list("pk", flat=True).last() or 0

    if change == "owner":
        form = {"name": job.name, "description": job.description, "exhibit": "", "owner": carol.pk}
        response = admin.post(reverse("admin:jobs_job_change", args=[job.pk]), form)
    elif change == "member deleted on its page":
        response = admin.post(reverse("admin:cases_casemember_delete", args=[member.pk]), {"post": "yes"})
    else:
        form = {"member deleted": {"members-0-DELETE": "on"}, "member moved": {"members-0-user": carol.pk}}[change]
        response = admin.post(reverse("admin:cases_case_change", args=[job.case_id]), _admin_case_form(member, **form))
    assert response.status_code == 302, response.content.decode()[-3000:]

    reference = f"job-{job.pk}"
    lost, audited = {
        "owner": (examiner, [
            ("job.owner", "case", f"{user_label(examiner)}'s: now {user_label(carol)}'s"),
            ("case.member.set", reference, f"{user_label(carol)}: lead"),
            ("case.member.remove", reference, f"{user_label(examiner)}: no longer owns job {job.pk}"),
        ]),
        "member deleted": (other, [("case.member.remove", reference, f"user {other.pk}")]),
        "member deleted on its page": (other, [("case.member.remove", reference, f"user {other.pk}")]),
        "member moved": (other, [  # made for carol first: a lead moved so keeps the case led
            ("case.member.set", reference, f"{user_label(carol)}: reviewer"),
            ("case.member.remove", reference, f"user {other.pk}"),
        ]),
    }[change]  # fmt: skip
    revoked.assert_called_once_with(lost.pk)
    # The admin's own record of the change (admin.*) comes beside them.
    events = AuditEvent.objects.filter(pk__gt=before).exclude(action__startswith="admin.").order_by("pk")
    assert [(e.action, e.target, e.detail) for e in events] == audited
    assert {e.user_id for e in events} == {boss.pk}
    job.refresh_from_db()
    assert job.owner_id == (carol.pk if change == "owner" else examiner.pk)
    members = {
        "owner": {(carol.pk, "lead"), (other.pk, "reviewer")},
        "member moved": {(examiner.pk, "lead"), (carol.pk, "reviewer")},
    }.get(change, {(examiner.pk, "lead")})
    assert set(CaseMember.objects.filter(case=job.case).values_list("user_id", "role")) == members


@pytest.mark.django_db
def test_the_django_admin_keeps_the_references_of_cases_of_their_own(make_user, client_for):
    """A case made in the admin cannot take the "job-<id>" form that names the case of a single job."""
    admin = client_for(make_user("boss@example.org", staff=True, superuser=True))
    form = {"reference": "job-12", "title": "t", "description": "",
            "members-TOTAL_FORMS": "0", "members-INITIAL_FORMS": "0", "members-MIN_NUM_FORMS": "0",
            "members-MAX_NUM_FORMS": "1000"}  # fmt: skip
    page = admin.post(reverse("admin:cases_case_add"), form)
    assert page.status_code == 200
    assert "This form of reference names the case of a single job." in page.text
    form["reference"] = "2024-017"
    assert admin.post(reverse("admin:cases_case_add"), form).status_code == 302
    assert AuditEvent.objects.filter(action="case.create", target="2024-017").exists()
