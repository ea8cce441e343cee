"""`manage.py search JOB_ID "a red car"`: a job's images ranked by how well they match a sentence.
`manage.py search JOB_ID --face FACE_ID`: the job's faces ranked by how alike they are to a face (of any job)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from content.models import Face
from extractors.base import StageUnavailable
from jobs.models import Job
from jobs.search import job_faces_like, job_images_by_text


class Command(BaseCommand):
    help = (
        "Rank a job's images by a sentence, with the classify stage's model (text search), or its faces by how "
        "alike they are to a face (--face)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int)
        parser.add_argument("text", nargs="?", help='what to look for, e.g. "a red car" or "a handwritten note"')
        parser.add_argument("--face", type=int, default=None, help="a face id: rank the job's faces by likeness")
        parser.add_argument("--limit", type=int, default=20)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = Job.objects.get(pk=options["job_id"])
        except Job.DoesNotExist:
            raise CommandError(f"no such job: {options['job_id']}") from None
        if (options["face"] is None) == (options["text"] is None):
            raise CommandError("give either TEXT or --face FACE_ID")
        if options["face"] is not None:
            self._faces(job, options["face"], options["limit"])
            return
        try:
            hits = job_images_by_text(job=job, text=options["text"], limit=options["limit"])
        except StageUnavailable as exc:
            raise CommandError(f"text search needs the classify model: {exc}") from None
        if not hits:
            self.stdout.write(f"job {job.pk}: no images with classify results from this model")
        for rank, hit in enumerate(hits, start=1):
            self.stdout.write(f"{rank:>3}  {hit.score:+.4f}  {hit.path}  (image {hit.image_id}, {hit.sha256[:12]})")

    def _faces(self, job: Job, face_id: int, limit: int) -> None:
        try:
            face = Face.objects.select_related("result").get(pk=face_id)
        except Face.DoesNotExist:
            raise CommandError(f"no such face: {face_id}") from None
        matches = job_faces_like(job=job, face=face, limit=limit)
        if not matches:
            self.stdout.write(f"job {job.pk}: no faces embedded by the recogniser of face {face_id}")
        for rank, match in enumerate(matches, start=1):
            verdict = "same person" if match.same_person else ""
            self.stdout.write(
                f"{rank:>3}  {match.similarity:+.4f}  face {match.face_id} (image {match.image_id})  {verdict}".rstrip()
            )
