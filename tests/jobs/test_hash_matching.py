"""Matching every file of a job against the hash sets, with real workers and PostgreSQL: while the scan runs (MD5,
SHA-1 and SHA-256, images and other files alike), again over the jobs when a set is imported later (without the
evidence), and no more once the set is disabled; the proposals, audit entries and live events a match brings."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from audit.models import AuditEvent
from cases.schemes import PROJECT_VIC
from cases.services import case_create, scheme_named
from hashsets.models import HashSet
from hashsets.signals import hash_sets_changed
from jobs.lifecycle import job_start
from jobs.models import FileInstance, HashMatch, Job
from jobs.progress.publisher import job_group
from jobs.progress.snapshot import job_progress_snapshot
from jobs.services import job_create, job_delete
from review.models import Categorisation, CategoryChange
from tests.support.hashmatches import hash_set
from tests.support.jobs import finished, photos
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def vic_case(transactional_db):
    return case_create(reference="2026-HM", title="hash matching", scheme=scheme_named(name=PROJECT_VIC))


def scanned(source, case) -> Job:
    job = job_create(name="phone", source_path=source, stages=["exif"], case=case)
    job_start(job=job)
    job = finished(job)
    assert job.status == Job.Status.COMPLETED, job.error
    return job


def matched(job: Job) -> dict[str, set[tuple[str, int]]]:
    """File name -> (set name, algorithm) of each match."""
    found: dict[str, set[tuple[str, int]]] = {}
    for path, name, algorithm in HashMatch.objects.filter(job=job).values_list(
        "file_instance__path", "hash_set__name", "algorithm"
    ):
        found.setdefault(path, set()).add((name, algorithm))
    return found


def test_a_set_ready_before_the_scan_matches_every_kind_of_file_by_each_algorithm(workers, evidence_dir, vic_case):
    pictures = photos(evidence_dir, range(4))
    notes = evidence_dir / "notes.txt"
    notes.write_text("not a picture, but a file all the same\n")
    hash_set("VICS-2024", HashSet.Kind.KNOWN_BAD, {pictures[0]: "md5", pictures[1]: "sha1"}, category="1")
    hash_set("Lab alerts", HashSet.Kind.ALERT, {notes: "sha256", pictures[1]: "sha256"})
    hash_set("NSRL", HashSet.Kind.KNOWN_GOOD, {pictures[2]: "sha1"})
    hash_set("Half imported", HashSet.Kind.KNOWN_BAD, {pictures[3]: "md5"}, ready=False)
    off = hash_set("Switched off", HashSet.Kind.KNOWN_BAD, {pictures[3]: "sha256"})
    HashSet.objects.filter(pk=off.pk).update(enabled=False)

    job = scanned(evidence_dir, vic_case)

    assert matched(job) == {
        "img_00000.jpg": {("VICS-2024", 1)},
        "img_00001.jpg": {("VICS-2024", 2), ("Lab alerts", 3)},
        "img_00002.jpg": {("NSRL", 2)},
        "notes.txt": {("Lab alerts", 3)},
    }
    counts = {"known_bad": 2, "alert": 2, "pdq": 0, "known_good": 1}
    assert job_progress_snapshot(job_id=job.pk)["hash_matches"] == counts
    # The set's category, proposed in the case for the two known-bad images, by no member.
    proposals = Categorisation.objects.filter(case=vic_case)
    assert {(c.image_id, c.category.code, c.status, c.set_by_id) for c in proposals} == {
        (FileInstance.objects.get(job=job, path=p.name).image_id, "1", "proposed", None) for p in pictures[:2]
    }
    assert set(CategoryChange.objects.filter(case=vic_case).values_list("user_label", flat=True)) == {
        "hash set VICS-2024"
    }
    audit = AuditEvent.objects.filter(action="hashset.match", job_id=job.pk)
    assert audit.count() == 1
    assert audit.get().data["sets"] == {"Lab alerts": 2, "NSRL": 1, "VICS-2024": 2}
    assert AuditEvent.objects.filter(action="review.category.propose", target=vic_case.reference).count() == 1

    job_delete(job=job)  # the matches go with the job
    assert not HashMatch.objects.exists()


async def _event_with(channel: str, kind: str, count: int) -> dict:
    layer = get_channel_layer()
    async with asyncio.timeout(60):
        while True:
            message = await layer.receive(channel)
            event = message.get("event", {})
            if message["type"] == "job.progress" and event.get("hash_matches", {}).get(kind) == count:
                return event


def test_a_set_imported_after_the_scan_matches_without_the_evidence_and_disabling_it_removes_its_matches(
    workers, evidence_dir, vic_case
):
    pictures = photos(evidence_dir, range(3))
    job = scanned(evidence_dir, vic_case)
    assert not HashMatch.objects.filter(job=job).exists()
    kept = {p: p.read_bytes() for p in pictures}
    shutil.rmtree(evidence_dir)  # matching reads the hashes the scan recorded, never the evidence
    evidence_dir.mkdir()
    for path, data in kept.items():  # the set's digests, taken from the files as they were
        path.write_bytes(data)
    hashes = hash_set("VICS-2025", HashSet.Kind.KNOWN_BAD, {pictures[0]: "sha256", pictures[2]: "md5"}, category="2")
    shutil.rmtree(evidence_dir)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_group(job.pk), channel)

    hash_sets_changed.send(sender=HashSet, hash_set_id=hashes.pk)

    event = async_to_sync(_event_with)(channel, "known_bad", 2)
    assert event["job"] == job.pk
    assert matched(job) == {"img_00000.jpg": {("VICS-2025", 3)}, "img_00002.jpg": {("VICS-2025", 1)}}
    assert Categorisation.objects.filter(case=vic_case, category__code="2", status="proposed").count() == 2
    wait_for(lambda: AuditEvent.objects.filter(action="hashset.match", job_id=job.pk).exists(), message="the audit")
    assert AuditEvent.objects.get(action="hashset.match", job_id=job.pk).data["sets"] == {"VICS-2025": 2}

    HashSet.objects.filter(pk=hashes.pk).update(enabled=False)
    hash_sets_changed.send(sender=HashSet, hash_set_id=hashes.pk)

    async_to_sync(_event_with)(channel, "known_bad", 0)
    assert not HashMatch.objects.filter(job=job).exists()
    assert AuditEvent.objects.filter(action="hashset.unmatch", job_id=job.pk).get().data["removed"] == 2
    async_to_sync(layer.group_discard)(job_group(job.pk), channel)
