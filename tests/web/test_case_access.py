"""Access goes through the job's case: its lead has every right on its jobs, an examiner views and changes them
(start, cancel, rerun), a reviewer only views, anyone else gets the same 404 as for a job that does not exist; staff
see every job. Checked over HTTP against jobs scanned by real workers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import CaseMember
from cases.services import case_create, case_member_set, case_source_assign
from jobs.models import Job
from jobs.progress import publisher
from jobs.services import CaseRefusedForJob, job_create, job_owner_set, job_share, job_unshare
from tests.support.cases import make_case
from tests.support.web import job_urls

pytestmark = pytest.mark.integration


def test_each_role_of_the_case_gets_its_rights_on_every_job_of_it(scan, team, client_for, sources_root):
    job = scan(team["lead"], case=case_create(reference="2024-017", title="Op. Example", owner=team["lead"]))
    case_member_set(case=job.case, user=team["examiner"], role="examiner")
    case_member_set(case=job.case, user=team["reviewer"], role="reviewer")
    # The examiner adds the laptop to the case: every member sees it, as they see the first job.
    make_case(sources_root / "laptop")
    laptop = job_create(name="laptop", source_path=sources_root / "laptop", owner=team["examiner"],
                        within=sources_root, case=job.case, exhibit="EX-2 laptop")  # fmt: skip
    urls = job_urls(job)
    clients = {role: client_for(user) for role, user in team.items()}

    for role in ("lead", "examiner", "reviewer", "staff"):
        listed = clients[role].get(reverse("jobs:list")).text
        assert f'data-job="{job.pk}"' in listed, role
        assert f'data-job="{laptop.pk}"' in listed, role
        assert "EX-2 laptop" in listed
        assert job.case.reference in listed
        for url in urls["get"]:
            assert clients[role].get(url).status_code == 200, (role, url)
        page = clients[role].get(reverse("jobs:detail", args=[laptop.pk])).text
        assert f'data-field="case">{job.case.reference}<' in page
        assert "EX-2 laptop" in page
    outsider = clients["outsider"]
    listed = outsider.get(reverse("jobs:list")).text
    assert f'data-job="{job.pk}"' not in listed
    assert f'data-job="{laptop.pk}"' not in listed
    for url in urls["get"] + [reverse("jobs:delete", args=[job.pk])]:
        assert outsider.get(url).status_code == 404, url
    for url in urls["change"] + urls["share"]:
        assert outsider.post(url, {"email": "dave@example.org", "role": "full"}).status_code == 404, url

    # A reviewer changes nothing; an examiner changes (cancel, rerun) but neither shares nor deletes.
    for url in urls["change"] + urls["share"]:
        assert clients["reviewer"].post(url, {"email": "dave@example.org", "role": "full"}).status_code == 403, url
    for url in urls["share"]:
        assert clients["examiner"].post(url, {"email": "dave@example.org", "role": "full"}).status_code == 403, url
    assert clients["examiner"].get(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert clients["examiner"].post(reverse("jobs:cancel", args=[job.pk])).status_code == 302  # not running: a no
    assert clients["examiner"].post(reverse("jobs:rerun", args=[job.pk])).status_code == 302
    rerun = Job.objects.get(rerun_of=job)
    assert rerun.case_id == job.case_id  # the case keeps the rerun, with its members
    assert clients["reviewer"].get(reverse("jobs:detail", args=[rerun.pk])).status_code == 200
    refused = AuditEvent.objects.filter(user_id=team["examiner"].pk, outcome="refused").values_list("action", flat=True)
    assert set(refused) == {"job.share", "job.delete"}

    # The lead shares (a membership of the case) and deletes; the outsider, now a reviewer, sees both jobs.
    lead = clients["lead"]
    assert lead.post(urls["share"][0], {"email": "dave@example.org", "role": "reviewer"}).status_code == 302
    assert CaseMember.objects.get(case=job.case, user=team["outsider"]).role == "reviewer"
    assert outsider.get(reverse("jobs:detail", args=[laptop.pk])).status_code == 200
    assert lead.post(reverse("jobs:delete", args=[laptop.pk])).status_code == 302
    assert not Job.objects.filter(pk=laptop.pk).exists()


@pytest.mark.django_db
def test_a_job_is_added_to_a_case_by_its_lead_or_an_examiner_only(team, client_for, sources_root):
    make_case(sources_root / "phone")
    case = case_create(reference="2024-017", title="Op. Example", owner=team["lead"])
    case_member_set(case=case, user=team["examiner"], role="examiner")
    case_member_set(case=case, user=team["reviewer"], role="reviewer")
    for role in ("reviewer", "outsider"):
        with pytest.raises(CaseRefusedForJob, match="only the lead and the examiners of case 2024-017"):
            job_create(name="x", source_path=sources_root / "phone", owner=team[role], case=case)
    assert not Job.objects.exists()

    # The job form offers the cases the user leads or examines in; the reviewer's form offers none.
    case_source_assign(case=case, name="phone", by=team["staff"])
    form = {"name": "phone", "source": "phone", "stages": ["exif"], "case": case.pk, "exhibit": "EX-1 phone"}
    assert "2024-017 Op. Example" in client_for(team["examiner"]).get(reverse("jobs:new")).text
    assert "2024-017" not in client_for(team["reviewer"]).get(reverse("jobs:new")).text
    refused = client_for(team["reviewer"]).post(reverse("jobs:new"), form)
    assert refused.status_code == 200
    assert not Job.objects.exists()
    assert client_for(team["examiner"]).post(reverse("jobs:new"), form).status_code == 302
    job = Job.objects.get()
    assert (job.case, job.exhibit, job.owner) == (case, "EX-1 phone", team["examiner"])
    # With no case chosen, the job goes in the case that holds its source, the examiner still an examiner there (a
    # case of its own would make them its lead); a reviewer may not scan it at all.
    del form["case"]
    assert client_for(team["reviewer"]).post(reverse("jobs:new"), form).status_code == 200
    assert client_for(team["examiner"]).post(reverse("jobs:new"), form).status_code == 302
    assert set(Job.objects.filter(owner=team["examiner"]).values_list("case", flat=True)) == {case.pk}
    assert Job.objects.filter(owner=team["examiner"]).count() == 2


@pytest.mark.django_db
def test_lowering_or_removing_a_membership_revokes_and_sharing_keeps_its_words(team, sources_root, mocker):
    make_case(sources_root / "phone")
    job = job_create(name="phone", source_path=sources_root / "phone", owner=team["lead"])
    revoked = mocker.patch.object(publisher, "access_revoked", autospec=True)
    member = job_share(job=job, user=team["examiner"], role="full")
    assert (member.case_id, member.role) == (job.case_id, "examiner")
    revoked.assert_not_called()
    job_share(job=job, user=team["examiner"], role="reviewer")  # lowered
    revoked.assert_called_once_with(team["examiner"].pk)
    assert job_unshare(job=job, user_id=team["examiner"].pk)
    assert revoked.call_count == 2
    assert not job_unshare(job=job, user_id=team["lead"].pk)  # the owner stays the lead
    with pytest.raises(ValueError, match="the owner already has every right"):
        job_share(job=job, user=team["lead"], role="reviewer")
    shared = AuditEvent.objects.filter(action__in=["job.share", "job.unshare"]).order_by("id")
    actions = shared.values_list("action", "job_id")
    assert list(actions) == [("job.share", job.pk), ("job.share", job.pk), ("job.unshare", job.pk)]


@pytest.mark.django_db
def test_giving_a_job_to_another_owner_changes_roles_in_its_own_case_only(team, sources_root):
    make_case(sources_root / "phone")
    case = case_create(reference="2024-017", title="Op. Example", owner=team["lead"])
    case_member_set(case=case, user=team["reviewer"], role="reviewer")
    in_case = job_create(name="phone", source_path=sources_root / "phone", owner=team["lead"], case=case)
    own = job_create(name="own", source_path=sources_root / "phone", owner=team["lead"])

    # In the lab's case, owning a job gives no right: the reviewer stays a reviewer, the lead stays lead.
    assert job_owner_set(job=in_case, owner=team["reviewer"])
    assert dict(case.members.values_list("user", "role")) == {team["lead"].pk: "lead", team["reviewer"].pk: "reviewer"}
    # The job's own case is its owner's: the lead goes with the job.
    assert job_owner_set(job=own, owner=team["reviewer"])
    assert list(own.case.members.values_list("user", "role")) == [(team["reviewer"].pk, "lead")]


@pytest.mark.django_db
def test_the_job_page_shares_with_examiners_and_reviewers_only(team, client_for, sources_root):
    make_case(sources_root / "phone")
    case = case_create(reference="2024-017", title="Op. Example", owner=team["lead"])
    case_member_set(case=case, user=team["reviewer"], role="lead")  # carol leads it too
    case_member_set(case=case, user=team["examiner"], role="examiner")
    job = job_create(name="phone", source_path=sources_root / "phone", owner=team["examiner"], case=case)
    lead = client_for(team["lead"])

    page = lead.get(reverse("jobs:detail", args=[job.pk])).text
    assert "bob@example.org" in page  # the owner is a member like any other in a case of the lab's
    assert reverse("jobs:unshare", args=[job.pk, team["examiner"].pk]) in page
    assert reverse("jobs:unshare", args=[job.pk, team["reviewer"].pk]) not in page  # carol leads
    share = {"email": "carol@example.org", "role": "reviewer"}
    for url, data in [(reverse("jobs:share", args=[job.pk]), share),
                      (reverse("jobs:unshare", args=[job.pk, team["reviewer"].pk]), {})]:  # fmt: skip
        refused = lead.post(url, data, follow=True)
        assert "they lead case 2024-017: a lead is changed in the cases admin" in refused.text
    assert dict(case.members.values_list("user", "role")) == {
        team["lead"].pk: "lead", team["reviewer"].pk: "lead", team["examiner"].pk: "examiner"
    }  # fmt: skip
    assert lead.post(reverse("jobs:unshare", args=[job.pk, team["examiner"].pk])).status_code == 302
    assert not case.members.filter(user=team["examiner"]).exists()
