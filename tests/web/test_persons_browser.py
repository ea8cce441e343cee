"""A person's page in a real browser: faces chosen with click and shift-click, the corrections enabled only while
faces are chosen, "not this person" for the chosen faces, and the person renamed in place (the name escaped)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from persons.models import FaceRejection, Person
from tests.support.web import sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_faces_are_chosen_with_shift_click_and_the_person_is_renamed_in_place(
    transactional_db, lab, examiner, asgi_server, page
):
    case, big = lab["case"], lab["big"]
    server = asgi_server()
    sign_in_browser(page.context, server, examiner)
    page.goto(f"{server.url}/cases/{case.pk}/persons/{big}/")
    faces = page.locator(".face-grid .face")
    expect(faces).to_have_count(4)
    reject = page.get_by_test_id("reject")
    expect(reject).to_be_disabled()
    expect(page.get_by_test_id("split")).to_be_disabled()

    faces.nth(0).click()
    faces.nth(2).click(modifiers=["Shift"])
    expect(page.get_by_test_id("chosen")).to_have_text("3 faces chosen")
    expect(page.locator(".face-grid .face.chosen")).to_have_count(3)
    faces.nth(1).click()  # a plain click takes one face out again
    expect(page.get_by_test_id("chosen")).to_have_text("2 faces chosen")
    expect(reject).to_be_enabled()
    chosen = [int(faces.nth(i).get_attribute("data-face")) for i in (0, 2)]
    reject.click()
    expect(page.locator(".face-grid .face")).to_have_count(2)
    assert set(FaceRejection.objects.filter(person_id=big).values_list("face_id", flat=True)) == set(chosen)

    heading = page.locator("#person h1[data-field='name']")
    heading.click()
    editor = page.get_by_test_id("name-inline")
    expect(editor).to_be_focused()
    editor.fill("<b>Suspect</b> 1")
    editor.press("Enter")
    expect(heading).to_have_text("<b>Suspect</b> 1")
    expect(heading).to_be_visible()
    assert Person.objects.get(pk=big).name == "<b>Suspect</b> 1"
    heading.click()
    page.get_by_test_id("name-inline").fill("not saved")
    page.get_by_test_id("name-inline").press("Escape")
    expect(heading).to_have_text("<b>Suspect</b> 1")
    page.reload()
    expect(page.locator("#person h1[data-field='name']")).to_have_text("<b>Suspect</b> 1")
    expect(page.locator("#person h1 b")).to_have_count(0)
