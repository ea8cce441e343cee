"""The export downloads of the case and job pages: need-to-know (a member gets one, anyone else 404, on the record),
every download audited with its format, count and SHA-256, and tenancy: an export holds nothing of a case the
requester is not in, though another case found the same picture and decided about it."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

import casework.exports
from audit.models import AuditEvent
from cases.services import case_create
from review.services import category_set, note_add
from tests.support.interchange import categorised_case
from tests.support.review import images_in_case

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def two_cases(tmp_path):
    """Alice's case 2024-017 (tests.support.interchange), and dave's case 2024-099 whose job found image 1 too, at
    a path of its own, with a category and a note of dave's."""
    lab = categorised_case(tmp_path)
    dave = get_user_model().objects.create_user(username="dave", email="dave@lab.example")
    other = case_create(reference="2024-099", title="Dave's", owner=dave, scheme=lab["case"].scheme)
    job, (shared, _) = images_in_case(case=other, owner=dave, source=tmp_path, numbers=[1, 9], name="dave-secret")
    job.files.filter(image=shared).update(path="dave-secret.jpg")
    category_set(case=other, user=dave, code="3", image_ids=[shared.pk])
    note_add(case=other, user=dave, image_id=shared.pk, text="dave-secret note")
    return {**lab, "dave": dave, "other": other, "other_job": job}


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_members_download_vics_and_case_uco_and_every_download_is_recorded(two_cases):
    case, job, pictures = two_cases["case"], two_cases["job"], two_cases["images"]
    lead = signed_in(two_cases["alice"])
    page = lead.get(reverse("casework:detail", args=[case.pk])).content.decode()
    assert reverse("casework:export", args=[case.pk, "vics"]) in page
    assert (
        reverse("jobs:export", args=[job.pk, "case"])
        in lead.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    )

    answer = lead.get(reverse("casework:export", args=[case.pk, "vics"]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert answer["Content-Disposition"] == f'attachment; filename="case-{case.pk}.vics.json"'
    data = body(answer)
    media = json.loads(data)["value"]
    assert {(m["SHA256"].lower(), m["Category"]) for m in media} == {(pictures[0].sha256, 1), (pictures[1].sha256, 5)}
    (event,) = AuditEvent.objects.filter(action="case.export")
    assert (event.via, event.user_id, event.outcome) == ("web", two_cases["alice"].pk, "ok")
    assert (event.data["format"], event.data["records"]) == ("vics", 2)
    assert event.data["sha256"] == hashlib.sha256(data).hexdigest()

    # A reviewer is a member too: the job's CASE/UCO export.
    answer = signed_in(two_cases["carol"]).get(reverse("jobs:export", args=[job.pk, "case"]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/ld+json"
    graph = json.loads(body(answer))
    assert "@graph" in graph
    (event,) = AuditEvent.objects.filter(action="job.export")
    assert (event.job_id, event.user_id, event.data["format"], event.data["records"]) == (
        job.pk, two_cases["carol"].pk, "case", 5,
    )  # fmt: skip
    assert lead.get(reverse("casework:export", args=[case.pk, "pdf"])).status_code == 404


def test_an_outsider_gets_404_on_the_record_and_no_export_holds_another_case(two_cases):
    case, job, dave = two_cases["case"], two_cases["job"], two_cases["dave"]
    outsider = signed_in(dave)
    for url, action in ((reverse("casework:export", args=[case.pk, "vics"]), "case.export"),
                        (reverse("jobs:export", args=[job.pk, "case"]), "job.export")):  # fmt: skip
        assert outsider.get(url).status_code == 404
        assert AuditEvent.objects.get(action=action, outcome="refused").user_id == dave.pk
    # Alice's exports, of the case and of the job, hold nothing of dave's case: not his path, note, category or
    # job, though his case found image 1 as hers did.
    lead = signed_in(two_cases["alice"])
    for url in (reverse("casework:export", args=[case.pk, fmt]) for fmt in ("vics", "case")):
        text = body(lead.get(url)).decode()
        assert "dave" not in text
        assert two_cases["other"].reference not in text
    vics = json.loads(body(lead.get(reverse("casework:export", args=[case.pk, "vics"]))))
    shared = next(m for m in vics["value"] if m["SHA256"].lower() == two_cases["images"][0].sha256)
    assert shared["Category"] == 1  # alice's case's category, not dave's 3
    assert {f["SourceID"] for f in shared["MediaFiles"]} == {"EX-1 phone"}
    # And dave's export of his own case holds only his: image 1 at his path, none of alice's images or paths.
    mine = json.loads(body(outsider.get(reverse("casework:export", args=[two_cases["other"].pk, "vics"]))))
    assert [(m["Category"], [f["FilePath"] for f in m["MediaFiles"]]) for m in mine["value"]] == [
        (3, ["dave-secret.jpg"])
    ]


def test_vics_of_a_scheme_without_numbers_is_refused_and_not_offered(tmp_path):
    lab = categorised_case(tmp_path, reference="2024-050", scheme="General")
    lead = signed_in(lab["alice"])
    page = lead.get(reverse("casework:detail", args=[lab["case"].pk])).content.decode()
    assert "VICS needs numbered categories" in page
    assert reverse("casework:export", args=[lab["case"].pk, "vics"]) not in page
    job_page = lead.get(reverse("jobs:detail", args=[lab["job"].pk])).content.decode()
    assert reverse("jobs:export", args=[lab["job"].pk, "vics"]) not in job_page
    assert "VICS needs numbered categories" in job_page
    assert reverse("jobs:export", args=[lab["job"].pk, "case"]) in job_page
    refused = lead.get(reverse("jobs:export", args=[lab["job"].pk, "vics"]))
    assert refused.status_code == 400
    assert "'General' has categories that are not numbers" in refused.content.decode()
    assert AuditEvent.objects.get(action="job.export").outcome == "refused"


def _open_under(folder: Path) -> list[str]:
    """The files under `folder` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, gone already
        if target.startswith(f"{folder}/"):
            held.append(target)
    return held


def test_a_download_is_spooled_under_var_dir_cached_nowhere_and_an_unknown_format_is_on_the_record(
    two_cases, settings, tmp_path, mocker
):
    settings.VAR_DIR = tmp_path / "var"
    spool = settings.VAR_DIR / "exports"
    case, job = two_cases["case"], two_cases["job"]
    lead = signed_in(two_cases["alice"])
    answer = lead.get(reverse("casework:export", args=[case.pk, "case"]))
    assert answer.status_code == 200
    assert {"private", "no-store"} <= set(answer["Cache-Control"].split(", "))
    assert len(_open_under(spool)) == 1  # the answer's file
    assert "@graph" in json.loads(body(answer))  # sent, and closed
    assert not _open_under(spool)
    assert not os.listdir(spool)  # gone from the disk as soon as it was opened

    for url, action in ((reverse("casework:export", args=[case.pk, "pdf"]), "case.export"),
                        (reverse("jobs:export", args=[job.pk, "x" * 200]), "job.export")):  # fmt: skip
        assert lead.get(url).status_code == 404
        event = AuditEvent.objects.filter(action=action, outcome="refused").latest("id")
        assert (event.user_id, event.detail[:10]) == (two_cases["alice"].pk, "no format ")
        assert len(event.detail) < 100

    # An export that fails (a full disk) leaves no spool file open behind it.
    full = OSError(errno.ENOSPC, "No space left on device")
    mocker.patch.object(casework.exports, "export_write", autospec=True, side_effect=full)
    with pytest.raises(OSError, match="No space left"):
        lead.get(reverse("casework:export", args=[case.pk, "vics"]))
    assert not _open_under(spool)
