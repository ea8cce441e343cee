"""The folders of a job's source, as the gallery browses them: one level of the folder tree at a time, and the folder
and file-name filters.

A file instance's path is relative to the job's source and stored as it is shown (evidence.display): every
character that would not show as itself is an escape, so a "/" in a path only ever separates two names. A folder is
named the same way, by its path up to (not including) a "/"; the source itself is the folder "". Folder and file
names are the suspect's text: they are compared with and shown, never used to open anything.

What the tree counts and what the filters select agree: a folder holds an image when one of the paths this job found
the image at is in it (or, with its subfolders, below it), so an image found in two folders counts in both.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Max, QuerySet, Value
from django.db.models.functions import Concat, Left, Reverse, Right, StrIndex, Substr

from jobs.models import FileInstance, Job

# How many folders of one level one answer lists at most; the rest come with `after`.
FOLDER_PAGE = 500
# FileInstance.sort_path holds a path's first characters, this many: what its gallery index can range over.
_SORT_PATH_CHARS = 512


@dataclass(frozen=True)
class Folder:
    path: str  # relative to the source, as shown
    name: str
    images: int  # distinct images in it and in its subfolders, at any depth
    subfolders: bool  # whether any image is in a folder below it


@dataclass(frozen=True)
class FolderLevel:
    folders: list[Folder]
    # Distinct images in the parent folder itself (not in a subfolder); None on a continuation page (`after`).
    images_here: int | None
    next_after: str | None  # the `after` of the next page of this level; None on the last page


def _prefix(folder: str) -> str:
    return f"{folder}/" if folder else ""


def _under(rows: QuerySet[FileInstance], folder: str) -> QuerySet[FileInstance]:
    """The rows whose path is below `folder`. The LIKE on sort_path is what an index can find them by (Django escapes
    LIKE's % and _ in the folder's name); the comparison of the path's start is the exact one (SQLite's LIKE ignores
    letter case)."""
    if not folder:
        return rows
    prefix = _prefix(folder)
    return (
        rows.filter(sort_path__startswith=prefix[:_SORT_PATH_CHARS])
        .alias(_start=Left("path", len(prefix)))
        .filter(_start=prefix)
    )


def _rest_slash(folder: str) -> StrIndex:
    """Where the first "/" after the folder's own path is in a path below it (0: the path is a file of the folder)."""
    return StrIndex(Substr("path", len(_prefix(folder)) + 1), Value("/"))


def file_name() -> Right:
    """A path's file name: what follows its last "/" (the whole path for a file at the top of the source)."""
    return Right("path", StrIndex(Reverse(Concat(Value("/"), "path")), Value("/")) - 1)


def paths_matching(
    rows: QuerySet[FileInstance], *, folder: str | None, subfolders: bool, name: str
) -> QuerySet[FileInstance]:
    """The file instances in `folder` (None: anywhere; with `subfolders`, also those below it) whose file name holds
    `name` (any letter case; "" matches every name)."""
    if folder is not None:
        rows = _under(rows, folder)
        if not subfolders:
            rows = rows.alias(_rest_slash=_rest_slash(folder)).filter(_rest_slash=0)
    if name:
        rows = rows.alias(_name=file_name()).filter(_name__icontains=name)
    return rows


def folder_level(*, job: Job, parent: str, after: str = "", limit: int = FOLDER_PAGE) -> FolderLevel:
    """The folders directly in `parent` ("" for the source itself) that hold images, by name (after `after`), each
    with how many distinct images are in it and below it. One pass over the paths below `parent`: the level of a
    source with 100,000 folders is listed a page at a time, and the levels below it only when asked for."""
    images = FileInstance.objects.filter(job=job, status=FileInstance.Status.IMAGE)
    below = _under(images, parent).alias(_slash=_rest_slash(parent)).filter(_slash__gt=0)
    start = len(_prefix(parent)) + 1
    children = (
        below.annotate(child=Substr("path", start, F("_slash") - 1))
        .filter(child__gt=after)
        .values("child")
        .annotate(
            images=Count("image", distinct=True),
            deepest=Max(StrIndex(Substr("path", F("_slash") + start), Value("/"))),
        )
        .order_by("child")
    )
    found = list(children[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    here = None
    if not after:
        here = paths_matching(images, folder=parent, subfolders=False, name="").values("image").distinct().count()
    return FolderLevel(
        folders=[
            Folder(
                path=f"{_prefix(parent)}{row['child']}",
                name=row["child"],
                images=row["images"],
                subfolders=row["deepest"] > 0,
            )
            for row in found
        ],
        images_here=here,
        next_after=found[-1]["child"] if more else None,
    )
