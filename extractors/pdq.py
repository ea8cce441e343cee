"""The pdq stage: Meta's PDQ perceptual hash (256 bits) of every image, its quality (0-100), and the hashes of the
image's 8 dihedral transforms (rotations by 90 degrees and mirrorings), so that a rotated or mirrored copy matches.

PDQ downsamples to 64x64 itself: a JPEG is decoded at the DCT reduction that keeps its longer side at least
`DECODE_LONG_SIDE` pixels, upright (EXIF orientation applied, as the gallery shows it), which is several times
faster than a full decode and changes no hash bit that matters (a near-duplicate search tolerates 31).

Hashes are hex strings in Meta's order (ThreatExchange's, the most significant of the 256 bits first), so that a
PDQ hash list from elsewhere compares with them directly. Two images are near-duplicates when their Hamming distance
is at most `distance` and both have a quality of at least `quality` (31 and 50 by default: Meta's recommendation);
both thresholds are frozen with every job and recorded with every result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from evidence.opening import EvidenceError
from extractors.base import (
    ExtractorContext,
    ImageRef,
    ItemResult,
    Outcome,
    Provenance,
    StageUnavailable,
    effective_version,
)
from extractors.batching import prefetched
from extractors.decoding import decode_oriented, to_rgb

DECODE_LONG_SIDE = 512
DEFAULT_DISTANCE = 31
DEFAULT_QUALITY = 50
HASH_BYTES = 32
DIHEDRAL = 8  # original, rotated 90, 180, 270, mirrored left-right, top-bottom, about each diagonal (PDQ's order)


@dataclass(frozen=True)
class PdqResult:
    """`hash`: 64 hex digits. `quality`: 0-100 (below ~50 the image is too flat for its hash to mean much).
    `dihedral`: the 8 transforms' hashes, 32 bytes each, PDQ's order (the first is `hash`)."""

    hash: str
    quality: int
    dihedral: bytes


def _packed(bits: np.ndarray) -> bytes:
    """pdqhash's bit vector (most significant bit first) as 32 bytes."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def _pixels(img: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(to_rgb(img), dtype=np.uint8))


def pdq_dihedral(img: Image.Image) -> PdqResult:
    """The PDQ hash, quality and dihedral hashes of a decoded image (any mode; made RGB first)."""
    import pdqhash

    hashes, quality = pdqhash.compute_dihedral(_pixels(img))
    dihedral = b"".join(_packed(bits) for bits in hashes)
    return PdqResult(hash=dihedral[:HASH_BYTES].hex(), quality=int(quality), dihedral=dihedral)


def pdq_of(img: Image.Image) -> tuple[str, int]:
    """The PDQ hash (64 hex digits) and quality of a Pillow image, e.g. an EXIF thumbnail, reduced as the stage
    reduces its images. Raises what Pillow raises for pixels that do not decode."""
    img = img.copy()
    img.thumbnail((DECODE_LONG_SIDE, DECODE_LONG_SIDE))
    result = pdq_dihedral(img)
    return result.hash, result.quality


def hamming(a: str, b: str) -> int:
    """The Hamming distance between two PDQ hashes in hex."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PdqExtractor:
    name = "pdq"
    version = "1"
    queue = "pdq"
    # The thresholds do not change a hash, but they are what a job's near-duplicates are found with: frozen with the
    # job and recorded with its results.
    result_params = ("distance", "quality")

    def __init__(self, context: ExtractorContext) -> None:
        self.context = context
        self.threads = max(1, int(context.params.get("decode_threads", 2)))

    @classmethod
    def resolved_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        resolved = dict(params)
        resolved["distance"] = int(params.get("distance") or DEFAULT_DISTANCE)
        resolved["quality"] = int(params.get("quality") if params.get("quality") is not None else DEFAULT_QUALITY)
        return resolved

    def load(self) -> Provenance:
        try:
            import pdqhash
        except ImportError as exc:
            raise StageUnavailable(f"pdq: {exc}", fix="pip install -r requirements/base.txt") from exc
        params = self.resolved_params(self.context.params)
        return Provenance(
            stage=self.name,
            version=effective_version(type(self), params),
            model_name=f"pdqhash {pdqhash.__version__}",
            params={"distance": params["distance"], "quality": params["quality"], "decode_long_side": DECODE_LONG_SIDE},
        )

    def _decode(self, ref: ImageRef) -> Image.Image | str:
        """The image upright, its longer side near DECODE_LONG_SIDE; or why it does not decode."""
        try:
            pixels = decode_oriented(ref, max_pixels=self.context.max_image_pixels, long_side=DECODE_LONG_SIDE).pixels
        except EvidenceError as exc:
            return str(exc)
        if max(pixels.size) > DECODE_LONG_SIDE * 2:  # a format without a reduced decode
            pixels.thumbnail((DECODE_LONG_SIDE, DECODE_LONG_SIDE))
        return pixels

    def run(self, batch: Sequence[ImageRef]) -> list[ItemResult]:
        results = []
        with ThreadPoolExecutor(self.threads) as pool:
            for ref, decoded in prefetched(pool, batch, self._decode, ahead=self.threads * 2):
                if isinstance(decoded, str):
                    results.append(ItemResult(ref.image_id, Outcome.FAILED, error=decoded))
                    continue
                results.append(ItemResult(ref.image_id, Outcome.DONE, data=pdq_dihedral(decoded)))
        return results
