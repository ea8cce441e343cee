"""`manage.py scan PATH --case REF [--exhibit EX]` and the export's `case` field, run as an investigator runs them (in a
subprocess, against the test database and real workers)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.models import Case, CaseMember
from cases.services import case_create, case_member_set, case_source_assign
from jobs.models import Job
from jobs.selectors import EXPORT_FIELDS
from tests.support.environment import REPO
from tests.support.jobs import photos
from tests.support.processes import child_run

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return child_run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_scan_into_a_case_made_when_new_used_when_it_exists_refused_for_an_outsider(
    transactional_db, workers, worker_env, evidence_folder
):
    users = get_user_model().objects
    alice, bob, carol = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "bob", "carol"))
    photos(evidence_folder, range(3), folder="phone")
    photos(evidence_folder, range(3, 5), folder="laptop")
    phone, laptop = str(evidence_folder / "phone"), str(evidence_folder / "laptop")

    done = manage(worker_env, "scan", phone, "--owner", "alice", "--case", "2024-017", "--exhibit", "EX-1 phone")
    assert done.returncode == 0, done.stderr
    case = Case.objects.get(reference="2024-017")
    assert (case.title, case.owner) == ("2024-017", alice)
    assert list(case.members.values_list("user", "role")) == [(alice.pk, "lead")]
    first = Job.objects.get(case=case)
    assert (first.exhibit, first.owner, first.status) == ("EX-1 phone", alice, Job.Status.COMPLETED)

    # Bob is no member yet: refused in one line, and nothing made.
    refused = manage(worker_env, "scan", laptop, "--owner", "bob", "--case", "2024-017")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "CommandError: only the lead and the examiners of case 2024-017 may add jobs to it"
    ]
    case_member_set(case=case, user=bob, role="examiner")
    case_member_set(case=case, user=carol, role="reviewer")
    assert manage(worker_env, "scan", laptop, "--owner", "carol", "--case", "2024-017").returncode != 0
    assert Job.objects.count() == 1
    done = manage(worker_env, "scan", laptop, "--owner", "bob", "--case", "2024-017", "--exhibit", "EX-2")
    assert done.returncode == 0, done.stderr
    assert list(Job.objects.filter(case=case).order_by("pk").values_list("exhibit", flat=True)) == [
        "EX-1 phone",
        "EX-2",
    ]
    assert CaseMember.objects.filter(case=case).count() == 3  # bob stays an examiner

    # Without --case, as before: a case of its own, the owner its lead.
    assert manage(worker_env, "scan", laptop, "--owner", "carol", "--name", "alone").returncode == 0
    alone = Job.objects.get(name="alone")
    assert alone.case.reference == f"job-{alone.pk}"
    assert list(alone.case.members.values_list("user", "role")) == [(carol.pk, "lead")]
    # A single job's own case takes its reruns only, even from its lead.
    own = manage(worker_env, "scan", laptop, "--owner", "carol", "--case", alone.case.reference)
    assert own.stderr.strip().splitlines() == [
        f"CommandError: case job-{alone.pk} is a single job's own: only its reruns join it"
    ]
    assert Job.objects.filter(case=alone.case).count() == 1
    # A new case is made with its first job or not at all.
    gone = manage(worker_env, "scan", str(evidence_folder / "nothing-here"), "--case", "2024-099")
    assert gone.returncode != 0
    assert not Case.objects.filter(reference="2024-099").exists()
    too_long = manage(worker_env, "scan", laptop, "--case", "2024-017", "--exhibit", "x" * 101)
    assert too_long.stderr.strip().splitlines() == ["CommandError: an exhibit reference has at most 100 characters"]
    # A reference of that form is not one a new case can take.
    taken = manage(worker_env, "scan", laptop, "--case", f"job-{alone.pk + 1}")
    assert taken.returncode != 0
    assert "names the case of a single job" in taken.stderr


def test_export_carries_the_case_after_the_file_times(transactional_db, workers, worker_env, evidence_folder):
    photos(evidence_folder, range(2))
    assert manage(worker_env, "scan", str(evidence_folder), "--name", "phone", "--case", "2024-018").returncode == 0
    job = Job.objects.get(name="phone")
    assert EXPORT_FIELDS[21:24] == ["ctime", "btime", "case"]  # fields are only ever added: these keep their place
    records = [json.loads(line) for line in manage(worker_env, "export", str(job.pk)).stdout.splitlines()]
    assert len(records) == 2
    assert {r["case"] for r in records} == {"2024-018"}
    exported = manage(worker_env, "export", str(job.pk), "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(exported, newline="")))
    assert list(rows[0]) == EXPORT_FIELDS
    assert {row["case"] for row in rows} == {"2024-018"}


def test_scan_for_an_owner_takes_only_the_sources_they_may_scan(transactional_db, workers, worker_env, evidence_folder):
    """With --owner, a folder under SOURCES_ROOT must lie in a source assigned to the case (or, for a case of its
    own, to a case the owner leads or examines in), and SOURCES_ROOT itself holds every source: else one line, on
    the record, and nothing made. The operator alone, and any folder outside SOURCES_ROOT, scan as before."""
    users = get_user_model().objects
    alice, bob, carol = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "bob", "carol"))
    staff = users.create_user(username="erin", is_staff=True)
    root = evidence_folder
    env = {**worker_env, "SOURCES_ROOT": str(root)}
    photos(root, range(2), folder="phone")
    photos(root, range(2, 4), folder="laptop")
    outside = root.parent / "elsewhere"
    photos(outside, range(4, 5))
    case = case_create(reference="2024-017", title="Op. Example", owner=alice)
    case_member_set(case=case, user=bob, role="examiner")
    case_member_set(case=case, user=carol, role="reviewer")
    case_source_assign(case=case, name="phone", by=staff)
    phone, laptop = root / "phone", root / "laptop"
    (phone / "a").mkdir()

    for args, why in [
        ((laptop, "--owner", "bob", "--case", "2024-017"), "source 'laptop' is not assigned to case 2024-017"),
        ((laptop, "--owner", "alice", "--case", "2024-099"), "source 'laptop' is not assigned to case 2024-099"),
        ((phone / "a", "--owner", "carol"), "source 'phone' is not assigned to a case they lead or examine in"),
        ((root, "--owner", "bob"), "it holds source 'laptop', which is not assigned to a case they lead or examine in"),
    ]:
        refused = manage(env, "scan", *map(str, args))
        assert refused.returncode != 0
        assert refused.stderr.strip().splitlines() == [f"CommandError: {args[2]} may not scan {args[0]}: {why}"]
    assert not Job.objects.exists()
    assert not Case.objects.filter(reference="2024-099").exists()  # made with its first job, or not at all
    records = AuditEvent.objects.filter(action="job.create", outcome="refused").order_by("id")
    assert [(e.via, e.data["owner"], e.data["source"]) for e in records] == [
        ("cli", "bob", str(laptop)),
        ("cli", "alice", str(laptop)),
        ("cli", "carol", str(phone / "a")),
        ("cli", "bob", str(root)),
    ]

    for args in [(phone, "--owner", "bob", "--case", "2024-017"), (laptop,), (outside, "--owner", "carol")]:
        done = manage(env, "scan", *map(str, args), "--stages", "exif")
        assert done.returncode == 0, done.stderr
    made = {Path(job.source_path).name: (job.case.reference, job.owner) for job in Job.objects.select_related("case")}
    assert made["phone"] == ("2024-017", bob)
    assert made["laptop"][1] is None
    assert made["elsewhere"][1] == carol
