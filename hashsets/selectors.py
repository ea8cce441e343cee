"""Reading the hash-set library."""

from __future__ import annotations

from django.db.models import QuerySet

from hashsets.models import HashSet


def hash_set_list() -> QuerySet[HashSet]:
    """Every set, importing ones included, by name."""
    return HashSet.objects.select_related("imported_by").order_by("name")


def hash_set_by_name(name: str) -> HashSet | None:
    return HashSet.objects.filter(name=name).first()
