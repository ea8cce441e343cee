"""Malformed and hostile input to the web app's job and gallery URLs is a 400 or 404, recorded like every refusal;
it is never a server error. Property tests throw arbitrary text, bytes, cursors and integers at them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_from_bytes

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from gallery.selectors import SORT_ORDERS
from jobs.models import Job

pytestmark = pytest.mark.integration

ANSWERS = {200, 400, 403, 404}
FUZZ = settings(
    deadline=None,
    # One scanned job for every example: the examples only read it, or are refused.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GALLERY_PARAMETERS = (
    "cursor", "sort", "gps", "faces", "tag", "errors", "duplicates", "type", "camera", "from", "to", "folder", "direct",
    "name", "parent", "after", "category", "bookmarked", "noted", "reviewed", "near", "stack",
)  # fmt: skip
REVIEW_WRITES = ("review_categorise", "review_confirm", "review_bookmark", "review_note", "review_reviewed")
JOB_PAGES = (
    "detail", "progress", "history", "gallery", "gallery_more", "gallery_options", "gallery_folders",
    "map", "map_points",
)  # fmt: skip
JOB_ITEMS = ("image", "image_similar", "thumb", "preview", "original", "face_crop")
JOB_CHANGES = ("start", "cancel", "rerun", "delete", "share")


def _cursor(value) -> str:
    """A cursor as the gallery writes them (base64 of JSON), of any JSON value."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


DEEP = base64.urlsafe_b64encode(("[" * 2000 + "]" * 2000).encode())  # deeper than the JSON parser goes
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
keys = st.lists(st.text(max_size=10) | st.integers(), min_size=2, max_size=3)  # the shapes of real keys
values = st.one_of(
    st.binary(max_size=40),  # any bytes, sent percent-encoded
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    (json_values | keys).map(_cursor).map(str.encode),
    st.sampled_from([*SORT_ORDERS, "1", "0"]).map(str.encode),
)


@pytest.fixture
def job(scan, examiner) -> Job:
    return scan(examiner)


@settings(FUZZ, max_examples=30)
@given(query=st.dictionaries(st.sampled_from(GALLERY_PARAMETERS), values, max_size=5))
@example(query={"cursor": DEEP})
@example(query={"cursor": _cursor(["a\x00", 1]).encode()})
@example(query={"cursor": _cursor(["\ud800", 1]).encode()})
@example(query={"sort": b"taken", "cursor": _cursor(["d", "\x00", 1]).encode()})
@example(query={"sort": b"size", "cursor": _cursor([2**70, 1]).encode()})
@example(query={"camera": b"\x00", "type": b"\x00", "tag": b"\x00"})
@example(query={"folder": b"%_", "name": b"a/b", "parent": b"\x00", "sort": b"-taken"})
@example(query={"to": b"9999-12-31", "sort": b"taken"})
def test_the_gallery_takes_any_parameters(client_for, examiner, job, query):
    alice = client_for(examiner)
    encoded = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in query.items())
    for page in ("jobs:gallery", "jobs:gallery_more", "jobs:gallery_folders"):
        response = alice.get(f"{reverse(page, args=[job.pk])}?{encoded}")
        assert response.status_code in (200, 400), (query, response.status_code)


@settings(FUZZ, max_examples=20)
@given(job_id=st.integers(min_value=0, max_value=2**70), item_id=st.integers(min_value=0, max_value=2**70))
@example(job_id=2**63, item_id=2**64)
@example(job_id=2**64 + 1, item_id=1)
def test_job_urls_take_any_id(client_for, examiner, job, job_id, item_id):
    alice = client_for(examiner)
    for name in JOB_ITEMS:
        url = reverse(f"jobs:{name}", args=[job.pk, item_id])
        assert alice.get(url).status_code in ANSWERS, (name, item_id)
    if job_id == job.pk:
        return
    for name in JOB_PAGES:
        assert alice.get(reverse(f"jobs:{name}", args=[job_id])).status_code == 404, (name, job_id)
    for name in JOB_ITEMS:
        assert alice.get(reverse(f"jobs:{name}", args=[job_id, item_id])).status_code == 404, (name, job_id)
    for name in JOB_CHANGES + REVIEW_WRITES:
        assert alice.post(reverse(f"jobs:{name}", args=[job_id])).status_code == 404, (name, job_id)
    assert alice.post(reverse("jobs:unshare", args=[job_id, item_id])).status_code == 404
    assert Job.objects.filter(pk=job.pk, status=Job.Status.COMPLETED).exists()


@settings(FUZZ, max_examples=30)
@given(ids=values, code=values, query=st.dictionaries(st.sampled_from(GALLERY_PARAMETERS), values, max_size=3))
@example(ids=b"1,2,x", code=b"pertinent", query={})
@example(ids=str(2**70).encode(), code=b"pertinent", query={})
@example(ids=b"", code=b"pertinent", query={"reviewed": b"maybe"})
def test_the_review_routes_take_any_ids_and_filters(client_for, examiner, job, ids, code, query):
    """Never a server error: ids that are not the job's images, malformed ids or filters, unknown categories."""
    alice = client_for(examiner)
    encoded = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in query.items())
    body = f"ids={quote_from_bytes(ids)}&code={quote_from_bytes(code)}&on=1&text=x"
    for name in REVIEW_WRITES:
        url = reverse(f"jobs:{name}", args=[job.pk])
        for form in (body, f"{body}&all=1"):
            response = alice.post(f"{url}?{encoded}", form, content_type="application/x-www-form-urlencoded")
            assert response.status_code in ANSWERS, (name, ids, query, response.status_code)
            assert response["Content-Type"] == "application/json"
    answer = alice.get(f"{reverse('jobs:review_decisions', args=[job.pk])}?ids={quote_from_bytes(ids)}")
    assert answer.status_code in ANSWERS


def test_malformed_input_is_refused_and_recorded(client_for, examiner, job):
    alice = client_for(examiner)
    assert alice.get(reverse("jobs:detail", args=[2**64])).status_code == 404
    refused = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED, user_id=examiner.pk)
    assert refused.filter(action="job.view", job_id=None, data={"job_id": str(2**64)}).count() == 1

    gallery = reverse("jobs:gallery", args=[job.pk])
    assert alice.get(f"{gallery}?camera=Canon%00").status_code == 400
    assert alice.get(f"{gallery}?cursor={DEEP.decode()}").status_code == 400
    details = refused.filter(action="job.view", job_id=job.pk).values_list("detail", flat=True)
    assert sorted(details) == ["bad page cursor", "the camera filter holds a character no stored value has"]
