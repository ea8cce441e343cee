"""Staff define category schemes in the admin: a built-in scheme is read-only, a custom one is made and changed with
its categories; a scheme a case uses is not deleted (a page that says why, not an error); every change is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Category, CategoryScheme
from cases.schemes import PROJECT_VIC
from cases.services import case_create, scheme_named

pytestmark = pytest.mark.django_db


def scheme_form(name: str, categories: list[tuple[str, str, str]], *, initial: int = 0, **extra: str) -> dict:
    """The scheme's add or change form as posted, with `categories` as (code, label, key)."""
    data = {
        "name": name, "description": "",
        "categories-TOTAL_FORMS": str(len(categories)), "categories-INITIAL_FORMS": str(initial),
        "categories-MIN_NUM_FORMS": "0", "categories-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, (code, label, key) in enumerate(categories):
        data |= {f"categories-{i}-code": code, f"categories-{i}-label": label, f"categories-{i}-key": key,
                 f"categories-{i}-position": str(i)}  # fmt: skip
    return data | extra


def test_a_built_in_scheme_is_read_only(admin_client):
    scheme = scheme_named(name=PROJECT_VIC)
    before = list(scheme.categories.values_list("code", "label", "key", "needs_confirmation", "sensitive"))
    url = reverse("admin:cases_categoryscheme_change", args=[scheme.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert "Child abuse material" in page.text
    changed = scheme_form("Renamed", [("1", "Anything", "9")], initial=0)
    assert admin_client.post(url, changed).status_code == 403
    assert admin_client.get(reverse("admin:cases_categoryscheme_delete", args=[scheme.pk])).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [scheme.pk], "post": "yes"}
    admin_client.post(reverse("admin:cases_categoryscheme_changelist"), bulk)
    scheme.refresh_from_db()
    assert scheme.name == PROJECT_VIC
    assert list(scheme.categories.values_list("code", "label", "key", "needs_confirmation", "sensitive")) == before
    assert not AuditEvent.objects.filter(action__startswith="scheme.").exists()


def test_staff_make_a_scheme_with_its_categories_and_change_it(admin_client):
    add = reverse("admin:cases_categoryscheme_add")
    categories = [("none", "Uncategorised", "0"), ("weapon", "Weapon", "1"), ("drugs", "Drugs", "2")]
    made = admin_client.post(add, scheme_form("Firearms unit", categories, **{"categories-1-needs_confirmation": "on"}))
    assert made.status_code == 302
    scheme = CategoryScheme.objects.get(name="Firearms unit")
    assert not scheme.built_in
    assert list(scheme.categories.values_list("code", "key", "needs_confirmation")) == [
        ("none", "0", False), ("weapon", "1", True), ("drugs", "2", False)
    ]  # fmt: skip
    assert AuditEvent.objects.get(action="scheme.create").target == "Firearms unit"

    # A key is given to one category of a scheme only: a form error.
    twice = admin_client.post(add, scheme_form("Twice", [("a", "A", "1"), ("b", "B", "1")]))
    assert twice.status_code == 200
    assert "A key sets one category only: 1 is given to several." in twice.text
    assert not CategoryScheme.objects.filter(name="Twice").exists()

    # A case made with it: its categories are still changed; the scheme is not deleted.
    case_create(reference="2025-7", title="Op. Arms", scheme=scheme)
    change = scheme_form("Firearms unit", categories[:2], initial=2)
    for i, category in enumerate(scheme.categories.all()[:2]):
        change |= {f"categories-{i}-id": str(category.pk), f"categories-{i}-scheme": str(scheme.pk)}
    change["categories-1-label"] = "Firearm"
    url = reverse("admin:cases_categoryscheme_change", args=[scheme.pk])
    assert admin_client.post(url, change).status_code == 302
    assert scheme.categories.get(code="weapon").label == "Firearm"
    assert AuditEvent.objects.get(action="scheme.update").detail == "category weapon changed"

    delete = reverse("admin:cases_categoryscheme_delete", args=[scheme.pk])
    page = admin_client.get(delete)
    assert page.status_code == 200
    assert "2025-7" in page.text  # what protects it
    assert admin_client.post(delete, {"post": "yes"}).status_code == 200
    assert CategoryScheme.objects.filter(pk=scheme.pk).exists()
    assert Category.objects.filter(scheme=scheme).count() == 3
    assert not AuditEvent.objects.filter(action="scheme.delete").exists()


def test_a_scheme_no_case_uses_is_deleted_on_the_record(admin_client):
    scheme = CategoryScheme.objects.create(name="Trial")
    Category.objects.create(scheme=scheme, code="x", label="X", key="1")
    assert (
        admin_client.post(reverse("admin:cases_categoryscheme_delete", args=[scheme.pk]), {"post": "yes"}).status_code
        == 302
    )
    assert not CategoryScheme.objects.filter(pk=scheme.pk).exists()
    assert AuditEvent.objects.get(action="scheme.delete").target == "Trial"


@pytest.mark.parametrize("key", ["g", "B", "c", "N", "r", "?"])
def test_a_key_review_mode_uses_itself_is_no_category_key(admin_client, key):
    """The viewer acts on g, b, c, n, r, space and ? itself (either case): a category given one would never be set."""
    add = reverse("admin:cases_categoryscheme_add")
    refused = admin_client.post(add, scheme_form("Keys", [("none", "Uncategorised", "0"), ("weapon", "Weapon", key)]))
    assert refused.status_code == 200
    assert f"Review mode uses the key {key} itself (space, ?, b, c, g, n, r)" in refused.text
    assert not CategoryScheme.objects.filter(name="Keys").exists()
    assert not Category.objects.filter(code="weapon").exists()
