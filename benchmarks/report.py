"""The case report of a case of 50,000 images, 2,000 of them categorised: time to make the HTML and the PDF, and the
peak memory (RSS) of the process that makes each, all in one run.

The case holds two jobs: 48,000 images as rows only (benchmarks.jobrows: EXIF, every fourth with GPS, so 12,000
positions on the map) and 2,000 real photos (1600x1200 JPEGs, benchmarks.jobrows.photo_job_create), all of them
categorised (1,500 as 5 "Non-pertinent", 500 proposed 1, sensitive: their thumbnails are blurred). Each report is
made through reports.services.report_write (every section, thumbnails made from the photos, the audit record
included) in a child process of its own, whose ru_maxrss is its peak RSS; the stages are timed from its progress.

Run: `python -m benchmarks.report` (part of `make bench`). Uses its own database (BENCH_REPORT_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/scanner_bench_report), recreated on every run; writes bench-results/report.md.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import jobrows
from benchmarks.environment import distributed_environment, results_write

REPO = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_REPORT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scanner_bench_report")
IMAGES = 50_000
CATEGORISED = 2_000
SENSITIVE = 500
RESULTS = REPO / "bench-results" / "report.md"

distributed_environment(
    database_url=DATABASE_URL, broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/3")
)


def _case_build(photos_root: Path) -> str:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from cases.schemes import PROJECT_VIC
    from cases.services import case_member_set, scheme_named
    from jobs.models import Job, JobImage
    from review.services import category_confirm, category_set

    users = get_user_model().objects
    lead = users.create_user(username="lead", email="lead@example.org", password="x" * 20)
    examiner = users.create_user(username="ex", email="ex@example.org", password="x" * 20)
    rows = jobrows.job_rows_create(lead, images=IMAGES - CATEGORISED)
    case = rows.case
    case.scheme = scheme_named(name=PROJECT_VIC)
    case.save(update_fields=["scheme"])
    case_member_set(case=case, user=examiner, role="examiner")
    photos = jobrows.photo_job_create(lead, photos_root, photos=CATEGORISED)
    Job.objects.filter(pk=photos.pk).update(case=case, files_seen=CATEGORISED, images=CATEGORISED,
                                            distinct_images=CATEGORISED)  # fmt: skip
    ids = list(JobImage.objects.filter(job=photos).order_by("image_id").values_list("image_id", flat=True))
    category_set(case=case, user=lead, code="5", image_ids=ids[SENSITIVE:])
    category_set(case=case, user=examiner, code="1", image_ids=ids[:SENSITIVE])
    category_confirm(case=case, user=lead, image_ids=ids[: SENSITIVE // 2])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return case.reference


def child(reference: str, fmt: str, target: str) -> None:
    """Make one report (in this process, alone) and print its timings and peak RSS as JSON."""
    import django

    django.setup()
    from cases.models import Case
    from reports.build import SECTIONS
    from reports.selectors import scope_of
    from reports.services import report_write

    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, time.perf_counter() - started)

    scope = scope_of(case=Case.objects.get(reference=reference))
    written = report_write(scope=scope, sections=tuple(SECTIONS), fmt=fmt, reveal=False, requester="bench",
                           target=Path(target), progress=progress)  # fmt: skip
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds, "marks": marks, "size": written.size, "maxrss_mib": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
    }))  # fmt: skip


def _measure(reference: str, fmt: str, folder: Path) -> dict:
    target = folder / f"report.{fmt}"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--child", reference, fmt, str(target)],
        cwd=REPO, env=os.environ, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stage(marks: dict[str, float], start: str, end: str, total: float) -> float:
    return marks.get(end, total) - marks.get(start, 0.0)


def main() -> None:
    jobrows.database_recreate(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    folder = Path(tempfile.mkdtemp(prefix="bench-report-", dir=os.environ.get("EVIDENCE_TMP")))
    try:
        built = time.perf_counter()
        reference = _case_build(folder / "photos")
        built = time.perf_counter() - built
        html = _measure(reference, "html", folder)
        pdf = _measure(reference, "pdf", folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for fmt, found in (("HTML", html), ("PDF", pdf)):
        marks, total = found["marks"], found["seconds"]
        thumbs = _stage(marks, "thumbnails", "gps", total)
        render = _stage(marks, "html", "pdf" if fmt == "PDF" else "\0", total)
        pdf_s = total - marks.get("pdf", total)
        rows.append(
            f"| {fmt} | {total:.1f} | {found['cpu']:.1f} | {thumbs:.1f} | {render:.1f} | {pdf_s:.1f} | "
            f"{found['size'] / 2**20:.1f} | {found['maxrss_mib']:.0f} |"
        )
    lines = [
        "# Case report benchmark",
        "",
        f"One case of {IMAGES:,} images in two jobs ({IMAGES - CATEGORISED:,} as rows, {CATEGORISED:,} real "
        f"1600x1200 photos), {CATEGORISED:,} categorised ({SENSITIVE} sensitive, blurred), 12,000 GPS positions; "
        f"every section. Case built in {built:.0f} s. Each report made in a child process of its own (peak RSS: "
        "its ru_maxrss; CPU: its user + system time, which a busy machine does not inflate as it does the "
        f"wall-clock times), PostgreSQL on this machine (load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        "| report | total s | CPU s | thumbnails s | HTML render s | PDF render s | file MiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    results_write(RESULTS, lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main()
