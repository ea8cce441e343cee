"""Review on a case of 50,000 images: bulk categorisation of 10,000 selected images, the gallery page filtered by
category, against today's gallery page (no filter) as the baseline, all in one run.

The case's one job is rows only (benchmarks.jobrows). Categorisation is timed through the service the web and the
API call (review.services.category_set): one transaction under the case's lock, the history, the review marks and
the audit record included. Pages are full requests through the Django stack, as benchmarks.web times them. Goals:
bulk categorise 10,000 images < 2 s; a page filtered by category < 100 ms.

Run: `python -m benchmarks.review` (part of `make bench`). Uses its own database (BENCH_REVIEW_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_review), recreated on every run; writes bench-results/review.md.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from benchmarks import jobrows
from benchmarks.environment import results_write, web_environment
from benchmarks.jobrows import IMAGES

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_REVIEW_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_review")
SELECTED = 10_000
REPEATS = 7
RESULTS = REPO / "bench-results" / "review.md"

web_environment(database_url=DATABASE_URL)


def _timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def _page_ms(client, url: str) -> tuple[float, int]:
    times = []
    for _ in range(REPEATS):
        ms, response = _timed(lambda: client.get(url))
        assert response.status_code == 200, response.status_code
        times.append(ms)
    return statistics.median(times), response.content.count(b'class="tile')


def main() -> None:
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from cases.schemes import PROJECT_VIC
    from cases.services import case_member_set, scheme_named
    from jobs.models import JobImage
    from review.services import category_confirm, category_set

    call_command("migrate", verbosity=0)
    users = get_user_model().objects
    lead = users.create_user(username="lead", email="lead@example.org", password="x" * 20)
    examiner = users.create_user(username="ex", email="ex@example.org", password="x" * 20)
    job = jobrows.job_rows_create(lead, images=IMAGES)
    case = job.case
    case.scheme = scheme_named(name=PROJECT_VIC)
    case.save(update_fields=["scheme"])
    case_member_set(case=case, user=examiner, role="examiner")
    ids = list(JobImage.objects.filter(job=job).order_by("image_id").values_list("image_id", flat=True))
    selected = ids[::5][:SELECTED]  # spread over the whole case

    rows = []
    ms, outcome = _timed(lambda: category_set(case=case, user=lead, code="5", image_ids=selected))
    rows.append(("categorise 10,000 uncategorised images (5)", ms, outcome.changed))
    ms, outcome = _timed(lambda: category_set(case=case, user=examiner, code="4", image_ids=selected))
    rows.append(("categorise the same 10,000 again, another category (4)", ms, outcome.changed))
    ms, outcome = _timed(lambda: category_set(case=case, user=examiner, code="1", image_ids=selected))
    rows.append(("propose a four-eyes category (1) for the 10,000", ms, outcome.changed))
    ms, outcome = _timed(lambda: category_confirm(case=case, user=lead, image_ids=selected))
    rows.append(("confirm the 10,000 proposals (another member)", ms, outcome.changed))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    client = Client(HTTP_HOST="localhost")
    client.force_login(lead)
    # Through the web: "select all that match" (the 10,000 in category 1) and categorise them (one request).
    categorise = reverse("jobs:review_categorise", args=[job.pk])
    ms, response = _timed(lambda: client.post(categorise + "?category=1", {"all": "1", "code": "4"}))
    assert response.status_code == 200, response.content[:300]
    rows.append(
        ("web: all 10,000 that match a filter, categorised (one request)", ms, response.json()["outcome"]["changed"])
    )
    ms, response = _timed(lambda: client.post(categorise + "?category=4", {"all": "1", "code": "1"}))
    rows.append(
        ("web: the same back to the four-eyes category (one request)", ms, response.json()["outcome"]["changed"])
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    more = reverse("jobs:gallery_more", args=[job.pk])
    whole = reverse("jobs:gallery", args=[job.pk])
    pages = [
        ("gallery page, no filter (today's baseline)", *_page_ms(client, more)),
        ("filtered by category 1 (10,000 of 50,000)", *_page_ms(client, more + "?category=1")),
        ("filtered: uncategorised (40,000 of 50,000)", *_page_ms(client, more + "?category=none")),
        ("filtered by a category no image has (0 of 50,000)", *_page_ms(client, more + "?category=3")),
        ("filtered: proposed, waiting for confirmation (10,000)", *_page_ms(client, more + "?category=proposed")),
        ("whole gallery page with the review bar (counters of the case)", *_page_ms(client, whole)),
        ("whole gallery page filtered by category 1", *_page_ms(client, whole + "?category=1")),
    ]

    lines = [
        "# Review benchmark",
        "",
        f"One case of {IMAGES:,} images (one job, rows bulk-created), PostgreSQL on this machine, one process.",
        "",
        f"Bulk categorisation of {SELECTED:,} selected images through review.services (one transaction under the "
        "case's lock: categories, history, review marks, audit). Goal: < 2 s.",
        "",
        "| action | ms | images changed |",
        "|---|---|---|",
        *[f"| {what} | {ms:.0f} | {changed:,} |" for what, ms, changed in rows],
        "",
        f"Gallery pages (the next page of tiles, a full request), median of {REPEATS}. Goal: < 100 ms.",
        "",
        "| page | median ms | ratio to the baseline | tiles |",
        "|---|---|---|---|",
        *[f"| {what} | {ms:.1f} | {ms / pages[0][1]:.2f} | {tiles} |" for what, ms, tiles in pages],
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    main()
