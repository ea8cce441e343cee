"""What goes into a portable case: the images of a case a selection names (by category, bookmarked, or every
categorised one), each with its hashes, what the case decided about it and every path the case's jobs found it at.

Only images the case's own jobs found are ever read here (jobs.JobImage of the case's jobs): a decision or a
bookmark cannot bring in an image of another case, even one that shares the same source layout."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from cases.models import Case, Category
from cases.selectors import case_categories
from content.models import Image
from jobs.models import FileInstance, JobImage
from review.models import Bookmark, Categorisation
from review.selectors import image_reviews

# Images read at a time.
BATCH = 500


class SelectionError(ValueError):
    """The selection names something the case does not have (a category code outside its scheme)."""


@dataclass(frozen=True)
class PortableSelection:
    """Which images of the case go in: those in any of `categories` (codes of the case's scheme) and, with
    `bookmarked`, those a member bookmarked. Neither named: every image with a category."""

    categories: tuple[str, ...] = ()
    bookmarked: bool = False

    def describe(self) -> str:
        if not self.categories and not self.bookmarked:
            return "every categorised image"
        parts = [f"categories {', '.join(self.categories)}"] if self.categories else []
        return " and ".join([*parts, *(["bookmarked images"] if self.bookmarked else [])])

    def as_data(self) -> dict[str, object]:
        return {"categories": list(self.categories), "bookmarked": self.bookmarked}


@dataclass(frozen=True)
class FoundAt:
    """One file a job of the case found the image at; `path` is as recorded (evidence.display form)."""

    job_id: int
    exhibit: str
    path: str


@dataclass(frozen=True)
class PortableImage:
    """One selected image: its content facts, the case's decision about it, and where it was found."""

    image: Image
    category: Category | None
    status: str = ""
    disputed: bool = False
    set_by: str = ""
    confirmed_by: str = ""
    bookmarked_by: tuple[str, ...] = ()
    found_at: tuple[FoundAt, ...] = field(default_factory=tuple)

    @property
    def sensitive(self) -> bool:
        return bool(self.category and self.category.sensitive)


def selection_check(*, case: Case, selection: PortableSelection) -> list[Category]:
    """The categories the selection names, in the scheme's order; SelectionError for a code the case's scheme
    lacks."""
    scheme = {category.code: category for category in case_categories(case=case)}
    unknown = [code for code in selection.categories if code not in scheme]
    if unknown:
        raise SelectionError(f"case {case.reference} has no category {unknown[0]!r} (its scheme: {', '.join(scheme)})")
    return [category for code, category in scheme.items() if code in selection.categories]


def selected_image_ids(*, case: Case, selection: PortableSelection) -> list[int]:
    """The ids of the images the selection names, in the scheme's category order, then by image id (bookmarked
    images with no category last)."""
    named = selection_check(case=case, selection=selection)
    found = JobImage.objects.filter(job__case_id=case.pk).values("image_id")
    categorised = Categorisation.objects.filter(case=case, image_id__in=found)
    if selection.categories:
        categorised = categorised.filter(category__in=named)
    elif selection.bookmarked:
        categorised = categorised.none()
    ordered = categorised.order_by("category__position", "category_id", "image_id").values_list("image_id", flat=True)
    ids = list(ordered)
    if selection.bookmarked:
        taken = set(ids)
        marked = Bookmark.objects.filter(case=case, image_id__in=found).values_list("image_id", flat=True)
        ids += sorted(set(marked) - taken)
    return ids


def _found_at(case: Case, image_ids: Sequence[int]) -> dict[int, list[FoundAt]]:
    rows = (
        FileInstance.objects.filter(job__case_id=case.pk, image_id__in=image_ids)
        .order_by("job_id", "path", "id")
        .values_list("image_id", "job_id", "job__exhibit", "path")
    )
    found: dict[int, list[FoundAt]] = {}
    for image_id, job_id, exhibit, path in rows:
        found.setdefault(image_id, []).append(FoundAt(job_id=job_id, exhibit=exhibit, path=path))
    return found


def portable_images(*, case: Case, image_ids: Iterable[int]) -> Iterator[PortableImage]:
    """The images of `image_ids` (checked by selected_image_ids), in that order, a batch of queries per BATCH."""
    ids = list(image_ids)
    categories = {category.code: category for category in case_categories(case=case)}
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        images = Image.objects.in_bulk(batch)
        reviews = image_reviews(case_id=case.pk, image_ids=batch)
        found = _found_at(case, batch)
        for image_id in batch:
            review = reviews.get(image_id)
            yield PortableImage(
                image=images[image_id],
                category=categories.get(review.category) if review and review.category else None,
                status=review.status if review else "",
                disputed=review.disputed if review else False,
                set_by=review.set_by if review else "",
                confirmed_by=review.confirmed_by if review else "",
                bookmarked_by=review.bookmarked_by if review else (),
                found_at=tuple(found.get(image_id, ())),
            )


def image_instances(*, case: Case, image: Image) -> list[FileInstance]:
    """The files of the case's jobs that hold the image, with their jobs: where its bytes can be read from, in
    order of preference."""
    rows = FileInstance.objects.filter(
        job__case_id=case.pk, image=image, kind="file", status=FileInstance.Status.IMAGE
    ).select_related("job")
    return list(rows.order_by("job_id", "path", "id"))
