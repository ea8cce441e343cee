from django.core.management import call_command

from jobs.models import FileInstance, Job
from jobs.samples import make_sample_tree


def test_scan_of_the_sample_tree_accounts_for_every_file(transactional_db, workers, evidence_dir):
    expected = make_sample_tree(evidence_dir)
    call_command("scan", str(evidence_dir), "--name", "smoke")
    job = Job.objects.get(name="smoke")
    assert job.status == Job.Status.COMPLETED
    assert job.files_seen == expected["files"] == FileInstance.objects.filter(job=job).count()
    assert (job.images, job.distinct_images, job.skipped, job.errors) == (
        expected["images"], expected["distinct"], expected["skipped"], expected["errors"],
    )  # fmt: skip
