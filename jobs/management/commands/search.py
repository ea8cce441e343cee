"""`manage.py search JOB_ID "a red car"`: a job's images ranked by how well they match a sentence."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extractors.base import StageUnavailable
from gallery.selectors import job_images_by_text
from jobs.models import Job


class Command(BaseCommand):
    help = "Rank a job's images by a sentence, with the classify stage's model (text search)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int)
        parser.add_argument("text", help='what to look for, e.g. "a red car" or "a handwritten note"')
        parser.add_argument("--limit", type=int, default=20)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = Job.objects.get(pk=options["job_id"])
        except Job.DoesNotExist:
            raise CommandError(f"no such job: {options['job_id']}") from None
        try:
            hits = job_images_by_text(job=job, text=options["text"], limit=options["limit"])
        except StageUnavailable as exc:
            raise CommandError(f"text search needs the classify model: {exc}") from None
        if not hits:
            self.stdout.write(f"job {job.pk}: no images with classify results from this model")
        for rank, hit in enumerate(hits, start=1):
            self.stdout.write(f"{rank:>3}  {hit.score:+.4f}  {hit.path}  (image {hit.image_id}, {hit.sha256[:12]})")
