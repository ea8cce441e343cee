"""The face embedding index: one faiss index per recogniser file (embeddings of two recognisers are never
comparable), over every face that recogniser embedded, whatever job found it. Searches filter the candidates by the
caller's scope afterwards, in the database: the index holds ids and vectors only, never who may see them.

Kept under FACE_INDEX_ROOT (never in the evidence), as `<recogniser sha256>.faiss` with `<...>.json` beside it (the
highest face id indexed and how many faces the index holds). Brought up to date before each search: faces with a
higher id are added; when the database holds another number of faces up to that id (a face deleted, or one
committed late with a lower id), the index is rebuilt. Below EXACT_BELOW faces the index is exact (inner product
over every vector: faster than any approximate index at that size); at and above it, an inverted-file index
(IVFFlat, sqrt(n) lists, trained on 40 vectors per list at its building; rebuilt when the faces have doubled since)
searched with NPROBE lists. Memory: the vectors themselves (4 bytes per dimension: 512 MB per million 128-d SFace
faces, 2 GB per million 512-d ArcFace faces) plus 8 bytes of id per face (benchmarks.facesearch measures it).
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from content.models import Face

EXACT_BELOW = 50_000
NPROBE = 128  # lists searched: recall of the exact ten nearest about 0.9 (benchmarks.facesearch, a million faces)
_CHUNK = 8192
_lock = threading.Lock()
_cache: dict[str, FaceIndex] = {}


def recogniser_faces(recogniser_sha256: str) -> QuerySet[Face]:
    """Every face that the recogniser file with this SHA-256 embedded."""
    return Face.objects.filter(result__stage="faces", result__params__recogniser_sha256=recogniser_sha256)


@dataclass
class FaceIndex:
    recogniser_sha256: str
    index: Any  # faiss.IndexIDMap over IndexFlatIP or IndexIVFFlat
    last_id: int  # the highest face id indexed (0: none)
    trained_at: int  # how many faces the index was built over

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: Any, k: int) -> list[tuple[int, float]]:
        """The `k` nearest faces (id, cosine similarity), best first."""
        import numpy as np

        if self.size == 0:
            return []
        scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype="float32"), min(k, self.size))
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]


def build_index(vectors: Any, ids: Any) -> Any:
    """An index over `vectors` (n x d float32, L2-normalised) with their face ids: exact below EXACT_BELOW, else
    an inverted-file index trained on them."""
    import faiss

    n, dim = vectors.shape
    if n < EXACT_BELOW:
        index = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
    else:
        lists = int(math.sqrt(n))
        coarse = faiss.IndexFlatIP(dim)
        inverted = faiss.IndexIVFFlat(coarse, dim, lists, faiss.METRIC_INNER_PRODUCT)
        inverted.train(vectors[:: max(1, n // (lists * 40))])
        inverted.nprobe = NPROBE
        index = faiss.IndexIDMap(inverted)
    if n:
        index.add_with_ids(vectors, ids)
    return index


def _paths(recogniser_sha256: str) -> tuple[Path, Path]:
    root = Path(settings.FACE_INDEX_ROOT)
    return root / f"{recogniser_sha256}.faiss", root / f"{recogniser_sha256}.json"


def _rows(faces: QuerySet[Face]) -> Iterator[tuple[Any, Any]]:
    import numpy as np

    ids: list[int] = []
    vectors: list[bytes] = []
    for pk, embedding in faces.order_by("pk").values_list("pk", "embedding").iterator(chunk_size=_CHUNK):
        ids.append(pk)
        vectors.append(bytes(embedding))
        if len(ids) >= _CHUNK:
            yield np.array(ids, dtype="int64"), np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(ids), -1)
            ids, vectors = [], []
    if ids:
        yield np.array(ids, dtype="int64"), np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(ids), -1)


def _rebuilt(recogniser_sha256: str, dim: int) -> FaceIndex:
    import numpy as np

    chunks = list(_rows(recogniser_faces(recogniser_sha256)))
    ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, dtype="int64")
    vectors = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0, dim), dtype="float32")
    index = build_index(np.ascontiguousarray(vectors, dtype="float32"), ids)
    return FaceIndex(recogniser_sha256, index, int(ids.max()) if len(ids) else 0, len(ids))


@contextmanager
def _file_lock(recogniser_sha256: str) -> Iterator[None]:
    data, _meta = _paths(recogniser_sha256)
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(data.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _load(recogniser_sha256: str) -> FaceIndex | None:
    import faiss

    data, meta = _paths(recogniser_sha256)
    if not (data.is_file() and meta.is_file()):
        return None
    state = json.loads(meta.read_text())
    return FaceIndex(recogniser_sha256, faiss.read_index(str(data)), state["last_id"], state["trained_at"])


def _save(face_index: FaceIndex) -> None:
    import faiss

    data, meta = _paths(face_index.recogniser_sha256)
    faiss.write_index(face_index.index, str(data.with_suffix(".tmp")))
    data.with_suffix(".tmp").replace(data)
    state = {"last_id": face_index.last_id, "trained_at": face_index.trained_at, "size": face_index.size}
    meta.with_suffix(".jsontmp").write_text(json.dumps(state))
    meta.with_suffix(".jsontmp").replace(meta)


def face_index_current(*, recogniser_sha256: str, dim: int) -> FaceIndex:
    """The index of this recogniser's faces, up to date with the database (loaded from its file, or built, once per
    process; then extended with the faces added since)."""
    with _lock, _file_lock(recogniser_sha256):
        current = _cache.get(recogniser_sha256) or _load(recogniser_sha256)
        faces = recogniser_faces(recogniser_sha256)
        changed = False
        if current is None or faces.filter(pk__lte=current.last_id).count() != current.size:
            current, changed = _rebuilt(recogniser_sha256, dim), True
        for ids, vectors in _rows(faces.filter(pk__gt=current.last_id)):
            current.index.add_with_ids(vectors, ids)
            current.last_id, changed = int(ids[-1]), True
        exact = current.trained_at < EXACT_BELOW  # built as an exact index
        if current.size >= (EXACT_BELOW if exact else 2 * current.trained_at):
            current, changed = _rebuilt(recogniser_sha256, dim), True
        if changed:
            _save(current)
        _cache[recogniser_sha256] = current
        return current


def face_index_forget() -> None:
    """Drop the indexes this process holds in memory (their files stay); a test's fixture calls it."""
    with _lock:
        _cache.clear()
