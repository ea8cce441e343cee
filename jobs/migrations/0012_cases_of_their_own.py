"""Every job gets a case of its own, "job-<id>", titled with the job's name, its owner the case's lead; each share of
the job becomes a membership of that case (full: examiner, reviewer: reviewer). Backwards, the members of each job's
case other than its owner become its shares again, and the cases go."""

from django.db import migrations

SHARE_TO_MEMBER = {"full": "examiner", "reviewer": "reviewer"}
MEMBER_TO_SHARE = {"lead": "full", "examiner": "full", "reviewer": "reviewer"}


def cases_of_their_own(apps, schema_editor) -> None:
    Job = apps.get_model("jobs", "Job")
    JobShare = apps.get_model("jobs", "JobShare")
    Case = apps.get_model("cases", "Case")
    CaseMember = apps.get_model("cases", "CaseMember")
    for job in Job.objects.filter(case__isnull=True).order_by("pk").iterator(chunk_size=500):
        case = Case.objects.create(reference=f"job-{job.pk}", title=job.name, description="", owner_id=job.owner_id)
        Case.objects.filter(pk=case.pk).update(created_at=job.created_at)
        members = [CaseMember(case=case, user_id=job.owner_id, role="lead")] if job.owner_id else []
        members += [
            CaseMember(case=case, user_id=share.user_id, role=SHARE_TO_MEMBER[share.role])
            for share in JobShare.objects.filter(job=job).exclude(user_id=job.owner_id).order_by("pk")
        ]
        CaseMember.objects.bulk_create(members)
        Job.objects.filter(pk=job.pk).update(case=case)


def shares_again(apps, schema_editor) -> None:
    Job = apps.get_model("jobs", "Job")
    JobShare = apps.get_model("jobs", "JobShare")
    Case = apps.get_model("cases", "Case")
    CaseMember = apps.get_model("cases", "CaseMember")
    for job in Job.objects.exclude(case=None).order_by("pk").iterator(chunk_size=500):
        members = CaseMember.objects.filter(case_id=job.case_id).exclude(user_id=job.owner_id).order_by("pk")
        JobShare.objects.bulk_create(
            [JobShare(job=job, user_id=m.user_id, role=MEMBER_TO_SHARE[m.role]) for m in members],
            ignore_conflicts=True,
        )
    Job.objects.update(case=None)
    CaseMember.objects.all().delete()
    Case.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0011_job_case_job_exhibit"), ("cases", "0001_initial")]

    operations = [migrations.RunPython(cases_of_their_own, shares_again)]
