"""PDQ hash lists (ThreatExchange's `hash,quality`) as hash sets matched by distance, through a real scan with the
pdq stage on real workers: the set holds the PDQ of a turned, recompressed copy of a photograph and matches the
original (every path of it), never an unrelated photograph; the match is a finding (category proposed, badge and
veil in the gallery, counted, in the export with its distance); disabling the set removes its matches, enabling it
again brings them back without a new scan, and a list whose qualities are below the job's threshold matches
nothing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.schemes import PROJECT_VIC
from cases.services import case_create, scheme_named
from extractors.pdq import pdq_of
from hashsets.models import HashEntry, HashSet
from hashsets.services import hash_set_enable, hash_set_import
from jobs.models import FileInstance, HashMatch
from jobs.pdqmatching import pdq_matches_for_job
from jobs.selectors import file_instances_for_export
from jobs.similar import similar_caches_clear
from review.models import Categorisation
from tests.support.pdq import VARIANTS, real_photo
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ORIGINAL = ("astronaut.png", "copy/astronaut.png")
UNRELATED = "coffee.png"


@pytest.fixture(autouse=True)
def pdq_jobs(settings):
    settings.SCAN_STAGES = ["exif", "pdq"]
    similar_caches_clear()
    yield
    similar_caches_clear()


@pytest.fixture
def vic_case(examiner):
    return case_create(reference="2026-PDQ", title="pdq sets", owner=examiner, scheme=scheme_named(name=PROJECT_VIC))


def _evidence(folder) -> str:
    """The photographs to scan; returns the PDQ list line of a copy of the first, turned 90° and saved as JPEG
    quality 20 (a copy the examiner does not hold)."""
    astronaut = real_photo("people/astronaut.png")
    (folder / "copy").mkdir(parents=True)
    for path in ORIGINAL:
        astronaut.save(folder / path)
    real_photo("objects/coffee.png").save(folder / UNRELATED)
    digest, quality = pdq_of(VARIANTS["JPEG quality 20"](VARIANTS["turned 90°"](astronaut)))
    return f"{digest},{quality}\n"


def _matches(job) -> dict[str, tuple[str, int, int | None]]:
    rows = HashMatch.objects.filter(job=job).values_list(
        "file_instance__path", "hash_set__name", "algorithm", "distance"
    )
    return {path: (name, algorithm, distance) for path, name, algorithm, distance in rows}


def test_a_pdq_set_matches_a_transformed_copy_by_distance(scan, sources_root, tmp_path, examiner, vic_case, client_for):
    folder = sources_root / "pdq"
    line = _evidence(folder)
    listed = tmp_path / "vics.pdq"
    listed.write_text(line)
    report = hash_set_import(path=listed, name="VICS-PDQ", kind="pdq", category="1", format="pdq")
    vics = HashSet.objects.get(name="VICS-PDQ")
    assert (vics.status, vics.entries, report.hash_set.pk) == (HashSet.Status.READY, 1, vics.pk)
    job = scan(examiner, name="pdq", case=vic_case)

    wait_for(lambda: HashMatch.objects.filter(job=job).count() == 2, message="the PDQ matches")
    found = _matches(job)
    assert set(found) == set(ORIGINAL)  # every path of the image, and not the unrelated photograph
    (name, algorithm, distance), _ = found.values()
    assert (name, algorithm) == ("VICS-PDQ", HashEntry.Algorithm.PDQ)
    assert 0 < distance <= 31
    assert {d for _, _, d in found.values()} == {distance}
    assert AuditEvent.objects.filter(action="hashset.match", job_id=job.pk, detail__contains="VICS-PDQ (pdq)").exists()

    # A finding: the set's category proposed, the tile badged and veiled, the panel names the set, the job counts it.
    image = FileInstance.objects.get(job=job, path=ORIGINAL[0]).image_id
    unrelated = FileInstance.objects.get(job=job, path=UNRELATED).image_id
    proposal = Categorisation.objects.get(case=vic_case, image_id=image)
    assert (proposal.category.code, proposal.status, proposal.set_by) == ("1", "proposed", None)
    assert not Categorisation.objects.filter(case=vic_case, image_id=unrelated).exists()
    alice = client_for(examiner)
    html = alice.get(reverse("jobs:gallery", args=[job.pk])).content.decode()
    tiles = {int(i): tag for tag, i in re.findall(r'(<a class="tile[^>]*data-image="(\d+)"[^>]*>)', html)}
    assert "data-hashmatch" in tiles[image]
    assert "veiled" in tiles[image]
    assert "data-hashmatch" not in tiles[unrelated]
    assert "veiled" not in tiles[unrelated]
    flagged = alice.get(reverse("jobs:gallery", args=[job.pk]) + "?hashmatch=1").content.decode()
    assert sorted(int(i) for i in re.findall(r'<a class="tile[^>]*data-image="(\d+)"', flagged)) == [image]
    panel = alice.get(reverse("jobs:image", args=[job.pk, image])).content.decode()
    named = r"<strong>VICS-PDQ</strong> <span class=\"chip bad\">pdq</span> <span[^>]*>by PDQ, distance (\d+)<"
    assert [int(d) for d in re.findall(named, panel)] == [distance]
    detail = alice.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert re.search(r'data-field="hash_pdq">2<', detail)

    # The export names the set with the distance.
    records = {r["path"]: r for r in file_instances_for_export(job=job)}
    assert records[ORIGINAL[0]]["hashset_matches"] == f"VICS-PDQ (pdq, distance {distance})"
    assert records[UNRELATED]["hashset_matches"] == ""

    # Disabled: the matches go. Enabled again: they come back, from the stored hashes, without a scan.
    hash_set_enable(hash_set=vics, enabled=False)
    wait_for(lambda: not HashMatch.objects.filter(job=job).exists(), message="the matches removed")
    assert "data-hashmatch" not in alice.get(reverse("jobs:gallery", args=[job.pk])).content.decode()
    hash_set_enable(hash_set=vics, enabled=True)
    wait_for(lambda: HashMatch.objects.filter(job=job).count() == 2, message="the matches again")
    assert set(_matches(job)) == set(ORIGINAL)


def test_entries_below_the_job_s_quality_threshold_match_nothing(scan, sources_root, tmp_path, examiner, vic_case):
    folder = sources_root / "pdq"
    digest = _evidence(folder).split(",")[0]
    listed = tmp_path / "low.pdq"
    listed.write_text(f"{digest},10\n")
    hash_set_import(path=listed, name="Low quality", kind="pdq", format="pdq")
    job = scan(examiner, name="pdq", case=vic_case)
    # Matched again over the whole job, here: nothing.
    assert pdq_matches_for_job(job) == {}
    assert not HashMatch.objects.filter(job=job).exists()
