"""Near-duplicates through real scans (the pdq stage on real workers): the image panel's "Similar" pane lists exact
duplicates apart from near-duplicates, in this job and in the user's other jobs, never in a job they may not see;
the gallery's near-duplicate filter and stacks; the viewer's group; the export's PDQ fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from content.models import PdqHash, StageResult
from jobs.models import FileInstance, Job
from jobs.samples import write_photo
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from jobs.similar import similar_caches_clear, similar_for_user
from tests.support.pdq import VARIANTS, real_photo

pytestmark = pytest.mark.integration

NEAR = {"small.jpg": "25 %", "turned.png": "turned 90°", "mirrored.jpg": "mirrored"}


@pytest.fixture(autouse=True)
def pdq_jobs(settings):
    settings.SCAN_STAGES = ["exif", "pdq"]
    similar_caches_clear()
    yield
    similar_caches_clear()


def _folders(root):
    astronaut = real_photo("people/astronaut.png")
    alice = root / "alice"
    (alice / "copy").mkdir(parents=True)
    astronaut.save(alice / "astronaut.png")
    astronaut.save(alice / "copy" / "astronaut.png")  # the same content at another path: an exact duplicate
    for name, variant in NEAR.items():
        VARIANTS[variant](astronaut).save(alice / name)
    real_photo("objects/coffee.png").save(alice / "coffee.png")
    for seed in range(3):
        write_photo(alice / f"camera-{seed}.jpg", seed=seed)
    (root / "alice-2").mkdir()
    VARIANTS["5 % of its area cropped"](astronaut).save(root / "alice-2" / "cropped.png")
    (root / "bob").mkdir()
    VARIANTS["JPEG quality 20"](VARIANTS["mirrored"](astronaut)).save(root / "bob" / "bobs.jpg")


def _image(job: Job, path: str) -> int:
    return FileInstance.objects.get(job=job, path=path).image_id


def test_similar_lists_exact_and_near_duplicates_the_user_may_see(scan, examiner, other, client_for, sources_root):
    _folders(sources_root)
    alices, alices_other, bobs = scan(examiner, name="alice"), scan(examiner, name="alice-2"), scan(other, name="bob")
    original = _image(alices, "astronaut.png")
    near = {_image(alices, name): name for name in NEAR}

    # The stage ran on its own queue, on every image, with its thresholds and the pdqhash version recorded.
    result = StageResult.objects.get(image_id=original, stage="pdq")
    assert result.status == "done"
    assert result.params["distance"] == 31
    assert result.params["quality"] == 50
    assert result.model_name.startswith("pdqhash ")
    assert result.extractor_version == alices.run_config.version("pdq")
    assert PdqHash.objects.filter(image__job_images__job=alices).count() == 8  # 9 files, one content twice

    similar = similar_for_user(user=examiner, job=alices, image_id=original)
    assert sorted(copy.path for copy in similar.exact) == ["astronaut.png", "copy/astronaut.png"]
    listed = {(n.job_id, n.image_id): n.distance for n in similar.near}
    cropped = _image(alices_other, "cropped.png")
    assert set(listed) == {*((alices.pk, i) for i in near), (alices_other.pk, cropped)}
    assert all(0 < distance <= 31 for distance in listed.values())
    assert original not in {n.image_id for n in similar.near}  # the exact duplicate is not a near one
    # Bob's copy is as near, but his job is not one Alice may see; nor are Alice's his.
    bobs_image = _image(bobs, "bobs.jpg")
    assert bobs_image not in {n.image_id for n in similar.near}
    assert similar_for_user(user=other, job=bobs, image_id=bobs_image).near == []

    alice, bob = client_for(examiner), client_for(other)
    pane = alice.get(reverse("jobs:image_similar", args=[alices.pk, original]))
    assert pane.status_code == 200
    assert pane.text.count('data-testid="near"') == 4
    assert pane.text.count('data-testid="exact-path"') == 2
    assert "alice-2" in pane.text
    assert bob.get(reverse("jobs:image_similar", args=[alices.pk, original])).status_code == 404
    assert bob.get(reverse("jobs:image_similar", args=[bobs.pk, original])).status_code == 404
    assert alice.get(reverse("jobs:image", args=[alices.pk, original])).text.count('data-pane="similar"') == 1

    # The gallery: only the near-duplicates, or one stacked tile for their group.
    gallery = reverse("jobs:gallery", args=[alices.pk])
    filtered = alice.get(gallery, {"near": "1"}).text
    assert sorted(int(part.split('"')[0]) for part in filtered.split('data-image="')[1:]) == sorted([original, *near])
    stacked = alice.get(gallery, {"stack": "1"}).text
    tiles = [int(part.split('"')[0]) for part in stacked.split('data-image="')[1:]]
    assert len(tiles) == 5  # the group, the coffee and three camera photos
    assert min(original, *near) in tiles
    assert 'data-testid="stack-count" title="4 near-duplicate images">4<' in stacked
    group = alice.get(reverse("jobs:review_group", args=[alices.pk, original])).json()
    assert sorted(group["images"]) == sorted([original, *near])
    assert group["paths"] == 5

    rows = {row["path"]: row for row in file_instances_for_export(job=alices)}
    assert EXPORT_FIELDS[29:34] == ["hashset_matches", "pdq", "pdq_quality", "near_duplicates", "flags"]
    assert list(rows["astronaut.png"]) == EXPORT_FIELDS
    assert rows["astronaut.png"]["pdq"] == PdqHash.objects.get(image_id=original).hash
    assert rows["astronaut.png"]["pdq_quality"] >= 50
    assert rows["astronaut.png"]["near_duplicates"] == 3
    assert rows["copy/astronaut.png"]["near_duplicates"] == 3
    assert rows["coffee.png"]["near_duplicates"] == 0
    assert {rows[f"camera-{seed}.jpg"]["near_duplicates"] for seed in range(3)} == {0}
