"""The move of access to cases: jobs and shares written before it come out each job in a case of its own ("job-<id>",
its title the job's name), the job's owner its lead, each share a member (full: examiner, reviewer: reviewer). Then
sources assigned to cases: each case keeps the sources its jobs scanned."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps.registry import Apps
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import Case, CaseMember, CaseSource
from cases.services import scheme_named
from jobs.models import Job

# The last migrations before cases.
BEFORE = [("jobs", "0010_image_in_content"), ("cases", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


@pytest.fixture
def before_cases(transactional_db) -> Iterator[Apps]:
    """The database migrated back to before cases, and the models of that time; migrated forward to the latest
    again afterwards, whatever the test did."""
    executor = _migrate(BEFORE)
    try:
        yield executor.loader.project_state([BEFORE[0]]).apps
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_every_job_gets_a_case_of_its_own_with_its_owner_as_lead_and_its_shares_as_members(before_cases):
    old = before_cases
    users = old.get_model(settings.AUTH_USER_MODEL).objects
    alice, bob, carol = (users.create(username=n, email=f"{n}@lab.example") for n in ("alice", "bob", "carol"))
    jobs, shares = old.get_model("jobs", "Job").objects, old.get_model("jobs", "JobShare").objects
    shared = jobs.create(name="phone", owner=alice, source_path="/evidence/phone")
    shares.create(job=shared, user=bob, role="full")
    shares.create(job=shared, user=carol, role="reviewer")
    alone = jobs.create(name="laptop", owner=bob, source_path="/evidence/laptop")
    orphan = jobs.create(name="usb stick", owner=None, source_path="/evidence/usb")  # its owner's account is gone
    shares.create(job=orphan, user=carol, role="full")

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert Case.objects.count() == 3
    expected = {
        shared.pk: ("phone", alice.pk, {(alice.pk, "lead"), (bob.pk, "examiner"), (carol.pk, "reviewer")}),
        alone.pk: ("laptop", bob.pk, {(bob.pk, "lead")}),
        orphan.pk: ("usb stick", None, {(carol.pk, "examiner")}),
    }
    for job_id, (title, owner, members) in expected.items():
        job = Job.objects.select_related("case").get(pk=job_id)
        assert (job.case.reference, job.case.title, job.case.owner_id) == (f"job-{job_id}", title, owner)
        assert job.case.created_at == job.created_at
        assert job.exhibit == ""
        assert job.case.scheme.name == "General"
        assert set(CaseMember.objects.filter(case=job.case).values_list("user_id", "role")) == members
    # The shares' table is gone: nothing reads it any more.
    assert "jobs_jobshare" not in connection.introspection.table_names()


def test_the_migration_goes_back_to_shares(before_cases):
    """Backwards (a release rolled back), the members of each job's case but its owner are its shares again."""
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    users = Case._meta.get_field("owner").related_model.objects
    alice, bob = users.create(username="alice"), users.create(username="bob")
    case = Case.objects.create(reference="job-1", title="phone", owner=alice, scheme=scheme_named())
    job = Job.objects.create(name="phone", owner=alice, source_path="/evidence/phone", case=case)
    CaseMember.objects.create(case=case, user=alice, role="lead")
    CaseMember.objects.create(case=case, user=bob, role="examiner")

    old = _migrate(BEFORE).loader.project_state([BEFORE[0]]).apps
    assert list(old.get_model("jobs", "JobShare").objects.values_list("job_id", "user_id", "role")) == [
        (job.pk, bob.pk, "full")
    ]


# The last migrations before sources were assigned to cases.
BEFORE_SOURCES = [("jobs", "0013_job_case_required_no_shares"), ("cases", "0003_case_scheme_required")]


@pytest.fixture
def before_sources(transactional_db) -> Iterator[Apps]:
    executor = _migrate(BEFORE_SOURCES)
    try:
        yield executor.loader.project_state(BEFORE_SOURCES).apps
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_each_case_is_assigned_the_sources_its_jobs_scanned(before_sources, settings, tmp_path):
    """The members who could start a job on a source before keep it, in the case that holds their jobs: each case
    gets the top-level folder of SOURCES_ROOT each of its jobs scanned; a folder outside SOURCES_ROOT (the command
    line's), the root itself and a hidden folder are no sources."""
    root = Path(os.path.realpath(tmp_path)) / "sources"
    settings.SOURCES_ROOT = root
    old = before_sources
    cases, jobs = old.get_model("cases", "Case").objects, old.get_model("jobs", "Job").objects
    scheme = old.get_model("cases", "CategoryScheme").objects.create(name="General")
    lab, own, other = (cases.create(reference=r, title=r, scheme=scheme) for r in ("2024-017", "job-3", "2024-018"))
    for case, path in [
        (lab, root / "phone"),
        (lab, root / "phone"),  # scanned again
        (lab, root / "laptop" / "users" / "bob"),  # a folder inside a source: the source
        (own, root / "phone"),  # another case scanned it too: both keep it
        (own, Path("/mnt/usb")),
        (other, root),
        (other, root / ".snapshots" / "phone"),
        (other, Path(f"{root}-old") / "tablet"),  # beside the root, not in it
    ]:
        jobs.create(name=path.name, source_path=str(path), case=case)

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assigned = CaseSource.objects.values_list("case__reference", "name", "assigned_by")
    assert sorted(assigned) == [("2024-017", "laptop", None), ("2024-017", "phone", None), ("job-3", "phone", None)]
