"""Which pictures a page shows veiled (exposure reduction), for the views that show pictures besides the gallery's
tiles: the Similar pane, face search, word search, the person strips and pages. As on the tiles, a picture is
veiled for everyone when its category in the case is sensitive or a flagging hash set (known-bad, alert, PDQ)
matched it, and every picture is blurred or greyed when the user's own setting says so. The server decides, so that
nothing shows unveiled first; a click reveals one picture."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from content.models import Face
from jobs.hashmatching import FLAGGING_KINDS
from jobs.models import HashMatch, Job
from review.models import Categorisation
from review.selectors import viewer_setting


@dataclass(frozen=True)
class Veils:
    blur: bool
    grey: bool
    # (case id, image id) of the pictures veiled for everyone.
    marked: frozenset[tuple[int, int]]
    # The case of each job named, and the image of each face named.
    case_of: dict[int, int]
    image_of: dict[int, int]

    def classes(self, case_id: int | None, image_id: int) -> str:
        """The CSS classes of a picture of the case: "veiled", "greyed", both or none."""
        veiled = self.blur or (case_id, image_id) in self.marked
        return " ".join(name for name, on in (("veiled", veiled), ("greyed", self.grey)) if on)

    def of_job(self, job_id: int, image_id: int) -> str:
        return self.classes(self.case_of.get(job_id), image_id)

    def of_face(self, case_id: int, face_id: int) -> str:
        return self.classes(case_id, self.image_of.get(face_id, 0))


def veils_for(
    *,
    user: AbstractBaseUser,
    image_ids: Iterable[int] = (),
    jobs: Iterable[int] = (),
    cases: Iterable[int] = (),
    faces: Iterable[int] = (),
) -> Veils:
    """The veils of the pictures `image_ids` (and of the images of the `faces`) of the jobs or cases named, in four
    queries whatever their number."""
    image_of = dict(Face.objects.filter(pk__in=set(faces)).values_list("pk", "image_id"))
    images = {*image_ids, *image_of.values()}
    case_of = dict(Job.objects.filter(pk__in=set(jobs)).values_list("pk", "case_id"))
    scope = {*cases, *case_of.values()}
    flagged = HashMatch.objects.filter(
        job__case_id__in=scope, hash_set__kind__in=FLAGGING_KINDS, file_instance__image_id__in=images
    ).values_list("job__case_id", "file_instance__image_id")
    sensitive = Categorisation.objects.filter(
        case_id__in=scope, image_id__in=images, category__sensitive=True
    ).values_list("case_id", "image_id")
    setting = viewer_setting(user=user)
    marked = frozenset({*flagged, *sensitive})
    return Veils(blur=setting.blur, grey=setting.grey, marked=marked, case_of=case_of, image_of=image_of)
