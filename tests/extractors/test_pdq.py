"""The pdq stage and its index, tested directly on image files (no Django): a real photograph and the copies an
examiner meets (smaller, recompressed, turned, mirrored, cropped) stay near-duplicates; unrelated photographs and
the generated camera photos stay apart; the index finds exactly what a scan of every pair finds."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from extractors.base import ExtractorContext, ImageRef, Outcome
from extractors.pdq import DIHEDRAL, HASH_BYTES, PdqExtractor, hamming, pdq_dihedral, pdq_of
from extractors.pdqindex import NearIndex, codes_from_dihedral, codes_from_hex, near_pairs, union_groups
from jobs.samples import picture
from tests.support.pdq import PHOTOS, VARIANTS, real_photo

DISTANCE, QUALITY = 31, 50


def _run(paths: list[Path], orientations: dict[int, int] | None = None) -> list:
    extractor = PdqExtractor(ExtractorContext(models_root=Path("/nonexistent")))
    extractor.load()
    refs = [
        ImageRef(i, bytes(path), "image/jpeg" if path.suffix == ".jpg" else "image/png", (orientations or {}).get(i))
        for i, path in enumerate(paths)
    ]
    return sorted(extractor.run(refs), key=lambda r: r.image_id)


def _dihedral_distance(original, copy_hash: str) -> int:
    return min(hamming(original.dihedral[i * 32 : (i + 1) * 32].hex(), copy_hash) for i in range(DIHEDRAL))


@pytest.mark.parametrize("name", ["people/astronaut.png", "objects/coffee.png", "objects/cat.png"])
def test_copies_of_a_real_photo_stay_near_duplicates(name, tmp_path):
    img = real_photo(name)
    img.save(tmp_path / "original.png")
    [original] = _run([tmp_path / "original.png"])
    assert original.outcome is Outcome.DONE
    assert original.data.quality >= QUALITY
    assert len(original.data.hash) == 64
    assert len(original.data.dihedral) == DIHEDRAL * HASH_BYTES
    assert original.data.dihedral[:HASH_BYTES].hex() == original.data.hash
    for label, make in VARIANTS.items():
        copy_hash, quality = pdq_of(make(img))
        assert quality >= QUALITY, label
        assert _dihedral_distance(original.data, copy_hash) <= DISTANCE, label
    # Turned and mirrored copies are far from the hash itself: only the dihedral hashes bring them together.
    assert hamming(original.data.hash, pdq_of(VARIANTS["turned 90°"](img))[0]) > DISTANCE
    assert hamming(original.data.hash, pdq_of(VARIANTS["mirrored"](img))[0]) > DISTANCE


def test_unrelated_photos_stay_apart():
    """The packaged photographs and the camera-like photos the samples and benchmarks generate: no pair within the
    distance, in any rotation or mirroring."""
    images = [real_photo(name) for name in PHOTOS] + [picture(640, 480, seed) for seed in range(200)]
    results = [pdq_dihedral(img) for img in images]
    a, b, _ = near_pairs(codes_from_dihedral([r.dihedral for r in results]), DISTANCE)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == []
    assert min(hamming(x.hash, y.hash) for x, y in itertools.combinations(results, 2)) > DISTANCE


def test_the_stage_decodes_upright_and_reduced_and_fails_a_broken_file(tmp_path):
    upright = picture(4000, 3000, seed=3)
    upright.save(tmp_path / "big.jpg", quality=90)
    upright.resize((400, 300), Image.Resampling.LANCZOS).save(tmp_path / "small.jpg", quality=90)
    # Stored turned, with EXIF orientation 6 ("turn 90° clockwise to view"): hashed as it is meant to be seen.
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.jpg", quality=90)
    (tmp_path / "broken.jpg").write_bytes((tmp_path / "big.jpg").read_bytes()[:2000])
    big, small, turned, broken = _run(
        [tmp_path / name for name in ("big.jpg", "small.jpg", "turned.jpg", "broken.jpg")], orientations={2: 6}
    )
    assert hamming(big.data.hash, small.data.hash) <= 8
    assert hamming(big.data.hash, turned.data.hash) <= 8
    assert broken.outcome is Outcome.FAILED
    assert broken.error


def test_thresholds_are_result_parameters_with_defaults():
    assert PdqExtractor.resolved_params({}) == {"distance": 31, "quality": 50}
    provenance = PdqExtractor(ExtractorContext(models_root=Path("."), params={"distance": 20})).load()
    assert (provenance.params["distance"], provenance.params["quality"]) == (20, 50)
    assert provenance.model_name.startswith("pdqhash ")


def test_the_index_finds_what_comparing_every_pair_finds():
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, (400, HASH_BYTES), dtype=np.uint8)
    # Near copies at distances around the threshold: flip chosen bits of some rows.
    for row, flips in ((1, 5), (2, 31), (3, 32), (4, 17), (5, 30)):
        codes[row] = codes[0]
        bits = np.unpackbits(codes[row])
        bits[rng.choice(256, flips, replace=False)] ^= 1
        codes[row] = np.packbits(bits)
    index = NearIndex(codes)
    for distance in (16, 31, 40):
        rows, positions, found = index.within(codes[:6], distance)
        got = sorted(zip(rows.tolist(), positions.tolist(), found.tolist(), strict=True))
        want = sorted(
            (q, p, d)
            for q in range(6)
            for p in range(len(codes))
            if (d := hamming(codes[q].tobytes().hex(), codes[p].tobytes().hex())) <= distance
        )
        assert got == want, distance
    assert codes_from_hex([codes[0].tobytes().hex()]).tolist() == [codes[0].tolist()]


def test_groups_join_transitively():
    a, b = np.array([0, 3, 5]), np.array([2, 4, 3])
    assert union_groups(6, a, b).tolist() == [0, 1, 0, 3, 3, 3]
