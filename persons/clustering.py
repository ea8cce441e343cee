"""The arithmetic of grouping faces, on embeddings alone (no database): L2-normalised float32 rows, compared by
cosine distance (1 - cosine similarity, 0 for the same direction, 2 for opposite ones).

`nearest` attaches faces to the persons that exist (their centroids), never to a person a face is rejected from;
`group` finds new persons among faces that attached to none (DBSCAN: a person needs `min_faces` faces within
`max_distance` of one another; the rest is noise). Work is done in blocks, so memory stays bounded by the block,
not by the number of faces or persons.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import numpy as np

# Rows of faces compared with every centroid at once: BLOCK x persons float32 similarities at most.
BLOCK = 1024
# Similarities `within` computes at once (float32: 16 MB): few faces are compared with many others in one product.
PRODUCT = 4_000_000
NOISE = -1
# What DBSCAN's neighbour search may hold at once (MB; scikit-learn's default is 1,024).
WORKING_MEMORY_MB = 64


def embeddings(blobs: list[bytes], dim: int | None = None) -> np.ndarray:
    """The float32 rows stored for faces, as one (n, dim) array."""
    if not blobs:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).astype(np.float32, copy=False)


def normalised(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)


def nearest(
    faces: np.ndarray, centroids: np.ndarray, *, max_distance: float, rejected: Mapping[int, Set[int]] | None = None
) -> np.ndarray:
    """For each face (row), the index of the nearest centroid within `max_distance`, or NOISE. `rejected` maps a
    face's row to the centroid indexes it may never be attached to."""
    out = np.full(len(faces), NOISE, dtype=np.int64)
    if not len(faces) or not len(centroids):
        return out
    rejected = rejected or {}
    for start in range(0, len(faces), BLOCK):
        sims = faces[start : start + BLOCK] @ centroids.T
        for row, banned in rejected.items():
            if start <= row < start + BLOCK and banned:
                sims[row - start, list(banned)] = -np.inf
        best = np.argmax(sims, axis=1)
        close = 1.0 - sims[np.arange(len(best)), best] <= max_distance
        out[start : start + BLOCK] = np.where(close, best, NOISE)
    return out


def within(faces: np.ndarray, others: np.ndarray, *, max_distance: float) -> np.ndarray:
    """Which of `others` lie within `max_distance` of at least one of `faces` (a boolean per row of `others`)."""
    hit = np.zeros(len(others), dtype=bool)
    if not len(faces) or not len(others):
        return hit
    step = max(BLOCK, PRODUCT // len(faces))
    for start in range(0, len(others), step):
        sims = others[start : start + step] @ faces.T
        hit[start : start + step] = (1.0 - sims.max(axis=1)) <= max_distance
    return hit


def group(faces: np.ndarray, *, min_faces: int, max_distance: float) -> np.ndarray:
    """DBSCAN labels of the faces (0, 1, ... for each group, NOISE for faces in none)."""
    # scikit-learn (with scipy) is imported by the clustering itself, not by every process that loads the app.
    from sklearn import config_context
    from sklearn.cluster import DBSCAN

    if len(faces) < min_faces:
        return np.full(len(faces), NOISE, dtype=np.int64)
    model = DBSCAN(eps=max_distance, min_samples=min_faces, metric="cosine", algorithm="brute", n_jobs=1)
    with config_context(working_memory=WORKING_MEMORY_MB):
        return model.fit_predict(faces).astype(np.int64)


def centroid(total: np.ndarray) -> np.ndarray:
    """The stored centroid of faces whose embeddings sum to `total`."""
    return normalised(total.reshape(1, -1))[0]
