"""`manage.py faces search FACE_ID|PHOTO [--job J | --case C] [--top N] [--all]`: the faces most like a stored face
or like the face in a reference photo (never stored), over one job, one case's jobs, or every job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.models import AuditEvent
from audit.services import audit_record, cli_actor
from content.models import Face
from extractors.base import StageUnavailable
from jobs.models import Job
from jobs.search import FaceQuery, ReferenceRefused, faces_like, reference_faces, reference_size_check


class Command(BaseCommand):
    help = "Face search: rank faces by likeness to a stored face (its id) or to the face in a reference photo."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        search = actions.add_parser("search", help=self.help)
        search.add_argument("face", help="a face id, or the path of a reference photo")
        scope = search.add_mutually_exclusive_group()
        scope.add_argument("--job", type=int, default=None, help="search this job's faces")
        scope.add_argument("--case", type=int, default=None, help="search the faces of every job of this case")
        search.add_argument("--top", type=int, default=20, help="how many faces to list (default 20)")
        search.add_argument("--choose", type=int, default=None, help="which face of a photo with several (1, 2, ...)")
        search.add_argument("--all", action="store_true", help="list faces below the same-person threshold too")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = Job.objects.order_by("pk")
        if options["job"] is not None:
            jobs = jobs.filter(pk=options["job"])
        elif options["case"] is not None:
            jobs = jobs.filter(case_id=options["case"])
        jobs = list(jobs)
        try:
            if not jobs:
                raise CommandError("no such job or case (or no jobs yet)")
            if not 1 <= options["top"] <= 500:
                raise CommandError("--top takes 1 to 500")
            query = self._query(options["face"], options["choose"])
        except CommandError as exc:
            audit_record("faces.search", outcome=AuditEvent.Outcome.REFUSED, actor=cli_actor(), detail=str(exc))
            raise
        matches = faces_like(jobs=jobs, query=query, limit=options["top"], matches_only=not options["all"])
        audit_record(
            "faces.search", actor=cli_actor(), target=str(query.face_id or "reference photo"),
            jobs=[job.pk for job in jobs], results=len(matches),
        )  # fmt: skip
        if not matches:
            self.stdout.write("no face like it in these jobs (with this recogniser)")
        for rank, match in enumerate(matches, start=1):
            verdict = "same person" if match.same_person else ""
            self.stdout.write(
                f"{rank:>3}  {match.similarity:+.4f}  face {match.face_id} (image {match.image_id}, job "
                f"{match.job_id})  {verdict}".rstrip()
            )

    def _query(self, face: str, choose: int | None) -> FaceQuery:
        if face.isascii() and face.isdigit():
            try:
                stored = Face.objects.select_related("result").get(pk=int(face))
            except Face.DoesNotExist:
                raise CommandError(f"no such face: {face}") from None
            query = FaceQuery.of_face(stored)
            if query is None:
                raise CommandError(f"face {face} has no recogniser recorded: it can be compared with none")
            return query
        path = Path(face)
        if not path.is_file():
            raise CommandError("neither a face id nor a readable file")
        try:
            reference_size_check(path.stat().st_size)
            found = reference_faces(data=path.read_bytes())
        except ReferenceRefused as exc:
            raise CommandError(str(exc)) from None
        except StageUnavailable as exc:
            raise CommandError(f"face search from a photo needs the face pack: {exc} (fix: {exc.fix})") from None
        if not found:
            raise CommandError("no face found in the reference photo")
        if len(found) > 1 and choose is None:
            listed = "; ".join(
                f"{f.index + 1}: {f.box[2]:.0f}x{f.box[3]:.0f} at {f.box[0]:.0f},{f.box[1]:.0f}" for f in found
            )
            raise CommandError(f"the photo has {len(found)} faces; choose one with --choose N ({listed})")
        index = (choose or 1) - 1
        if not 0 <= index < len(found):
            raise CommandError(f"--choose must be 1 to {len(found)}")
        return found[index].query
