"""The category schemes every installation has: Project VIC style numbering (as Autopsy numbers it), the UK's CAID
grades, and a general scheme for other kinds of crime. The data migration cases/0002 and tests read them here."""

from __future__ import annotations

from typing import Any, NamedTuple


class BuiltInCategory(NamedTuple):
    code: str
    label: str
    key: str
    needs_confirmation: bool = False
    sensitive: bool = False
    clears: bool = False


GENERAL = "General"
PROJECT_VIC = "Project VIC"
UK_CAID = "UK CAID"

BUILT_IN_SCHEMES: dict[str, tuple[str, tuple[BuiltInCategory, ...]]] = {
    GENERAL: (
        "For any kind of crime: what bears on the case, and what does not.",
        (
            BuiltInCategory("uncategorised", "Uncategorised", "0", clears=True),
            BuiltInCategory("pertinent", "Pertinent", "1"),
            BuiltInCategory("not-pertinent", "Not pertinent", "2"),
            BuiltInCategory("second-look", "Needs a second look", "3"),
        ),
    ),
    PROJECT_VIC: (
        "Project VIC style categories, numbered as Autopsy numbers them. 1 and 2 need a second member's confirmation.",
        (
            BuiltInCategory("0", "Uncategorised", "0", clears=True),
            BuiltInCategory("1", "Child abuse material", "1", needs_confirmation=True, sensitive=True),
            BuiltInCategory("2", "Child exploitative / age difficult", "2", needs_confirmation=True, sensitive=True),
            BuiltInCategory("3", "CGI / animation", "3", sensitive=True),
            BuiltInCategory("4", "Comparison / exemplar", "4"),
            BuiltInCategory("5", "Non-pertinent", "5"),
        ),
    ),
    UK_CAID: (
        "The UK's Child Abuse Image Database grades. A, B and C need a second member's confirmation.",
        (
            BuiltInCategory("uncategorised", "Uncategorised", "0", clears=True),
            BuiltInCategory("A", "Category A", "1", needs_confirmation=True, sensitive=True),
            BuiltInCategory("B", "Category B", "2", needs_confirmation=True, sensitive=True),
            BuiltInCategory("C", "Category C", "3", needs_confirmation=True, sensitive=True),
            BuiltInCategory("non-indecent", "Non-indecent", "4"),
        ),
    ),
}


def schemes_built_in(scheme_model: Any, category_model: Any) -> None:
    """Make the built-in schemes the database lacks, with the models given (migration cases/0002 passes its
    historical ones): the migration makes them, and a database emptied since (`manage.py flush`) gets them back."""
    for name, (description, categories) in BUILT_IN_SCHEMES.items():
        scheme, _ = scheme_model.objects.get_or_create(
            name=name, defaults={"description": description, "built_in": True}
        )
        for position, category in enumerate(categories):
            category_model.objects.get_or_create(
                scheme=scheme, code=category.code, defaults={**category._asdict(), "position": position}
            )
