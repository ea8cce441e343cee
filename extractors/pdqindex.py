"""Finding near-duplicate PDQ hashes without comparing every pair: multi-index hashing (faiss's
IndexBinaryMultiHash).

The 256 bits are cut into 16 substrings of 16 bits, each with a hash table. Two hashes at most `distance` apart
differ in at most distance // 16 bits in at least one of the substrings (pigeonhole), so looking up every substring
of a query with up to that many bits flipped finds every hash within `distance`: the search is exact, and each
candidate's full distance is checked. At a million hashes a query visits a few thousand candidates instead of a
million.

No Django here: the callers pass arrays of 32-byte codes and get positions in them back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

from extractors.pdq import DIHEDRAL, HASH_BYTES

SUBSTRINGS = 16
SUBSTRING_BITS = 16


def codes_from_hex(hexes: Iterable[str]) -> np.ndarray:
    """PDQ hashes in hex as an (n, 32) uint8 array."""
    joined = "".join(hexes)
    return np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(-1, HASH_BYTES)


def codes_from_dihedral(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored dihedral hashes (8 x 32 bytes each) as an (n * 8, 32) uint8 array, each image's 8 rows together."""
    return np.frombuffer(b"".join(bytes(blob) for blob in blobs), dtype=np.uint8).reshape(-1, HASH_BYTES)


class NearIndex:
    """The hashes of a set of images, searchable by Hamming distance. Positions are rows of `codes`. Safe to share
    between threads."""

    def __init__(self, codes: np.ndarray) -> None:
        import faiss

        self.size = len(codes)
        self._index = faiss.IndexBinaryMultiHash(HASH_BYTES * 8, SUBSTRINGS, SUBSTRING_BITS)
        if self.size:
            self._index.add(np.ascontiguousarray(codes, dtype=np.uint8))
        self._lock = threading.Lock()

    def within(self, queries: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query row, position, distance) with a distance of at most `distance`, as three arrays."""
        empty = np.zeros(0, dtype=np.int64)
        if not self.size or not len(queries):
            return empty, empty, empty
        with self._lock:  # nflip is the index's state
            self._index.nflip = distance // SUBSTRINGS
            limits, distances, positions = self._index.range_search(
                np.ascontiguousarray(queries, dtype=np.uint8), distance + 1
            )
        rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(limits).astype(np.int64))
        return rows, positions.astype(np.int64), distances.astype(np.int64)


def nearest_by_image(index: NearIndex, dihedral: bytes, distance: int) -> dict[int, int]:
    """position -> the smallest distance between one of an image's 8 dihedral hashes and the hash there, for every
    position within `distance`."""
    _rows, positions, distances = index.within(codes_from_dihedral([dihedral]), distance)
    best: dict[int, int] = {}
    for position, found in zip(positions.tolist(), distances.tolist(), strict=True):
        if found < best.get(position, distance + 1):
            best[position] = found
    return best


def near_pairs(dihedral: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The near-duplicate pairs among n images, from their dihedral hashes ((n * 8, 32), each image's 8 rows
    together, the first its own hash): (a, b, distance) arrays with a < b, each pair once, at the smallest distance
    between one image's hash and any of the other's transforms."""
    empty = np.zeros(0, dtype=np.int64)
    count = len(dihedral) // DIHEDRAL
    if count < 2:
        return empty, empty, empty
    rows, positions, distances = NearIndex(dihedral[::DIHEDRAL]).within(dihedral, distance)
    sources = rows // DIHEDRAL
    other = sources != positions
    a = np.minimum(sources[other], positions[other])
    b = np.maximum(sources[other], positions[other])
    d = distances[other]
    order = np.lexsort((d, b, a))
    a, b, d = a[order], b[order], d[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], d[first]


def union_groups(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A group label per item (the smallest item of its group) once every pair (a[i], b[i]) is linked, transitively
    (union-find)."""
    root = list(range(count))

    def find(item: int) -> int:
        while root[item] != item:
            root[item] = root[root[item]]
            item = root[item]
        return item

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            root[max(rx, ry)] = min(rx, ry)
    return np.array([find(item) for item in range(count)], dtype=np.int64)
