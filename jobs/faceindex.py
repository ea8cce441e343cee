"""The face embedding index: one faiss index per recogniser file (embeddings of two recognisers are never
comparable), over every face that recogniser embedded, whatever job found it. Searches filter the candidates by the
caller's scope afterwards, in the database: the index holds ids and vectors only, never who may see them (a face
deleted since it was indexed is never a result).

Kept under FACE_INDEX_ROOT (never in the evidence), as `<recogniser sha256>.faiss` with `<...>.json` beside it (the
highest face id indexed, how many faces the index was built over, and a generation that every write changes: a
process holding an older generation loads the file again). A search compares the number and the sum of the face
ids up to the highest indexed with the index's own, which tells it that faces were deleted or committed late.

An index a process holds is never changed in place (searches use it outside any lock): a change is made to a copy
(faiss.clone_index), written, and the copy then replaces it.

Maintained on the `jobs` queue (`face_index_maintain`, queued by a job's deletion and by a search that finds the
index behind): faces in the database and not in the index are added (whatever their id: a face committed late has a
lower id than faces indexed before it), faces in the index and no longer in the database are removed
(`remove_ids`), and the index is rebuilt only when its kind should change. A search itself adds at most CATCH_UP
faces newer than the index; when more are new, when faces it holds are gone or others are missing, or when there is
no index yet and more than CATCH_UP faces, it queues the maintenance and searches what there is (with no index: the
database, exactly).

Below EXACT_BELOW faces the index is exact (inner product over every vector: faster than any approximate index at
that size); at and above it, an inverted-file index (IVFFlat, sqrt(n) lists, trained on 40 vectors per list at its
building; rebuilt when the faces have doubled since) searched with NPROBE lists. Memory: the vectors themselves
(4 bytes per dimension: 512 MB per million 128-d SFace faces, 2 GB per million 512-d ArcFace faces) plus 8 bytes of
id per face (benchmarks.facesearch measures it).
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, QuerySet, Sum

from content.models import Face
from jobs import canvas

EXACT_BELOW = 50_000
NPROBE = 128  # lists searched: recall of the exact ten nearest about 0.9 (benchmarks.facesearch, a million faces)
_CHUNK = 8192
# Faces newer than the index that a search adds itself; more are left to the maintenance on the jobs queue.
CATCH_UP = 5_000
# How long a queued maintenance keeps searches from queueing another (seconds).
QUEUED_FOR = 600
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
    generation: str = ""  # of the file it was loaded from or saved to

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def id_sum(self) -> int:
        """The sum of the face ids held: with the size, what a search compares with the database's faces."""
        import faiss

        return int(faiss.vector_to_array(self.index.id_map).sum())

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


def _held(recogniser_sha256: str) -> FaceIndex | None:
    """The index as its file holds it now: the one this process holds when of the file's generation, else read."""
    import faiss

    data, meta = _paths(recogniser_sha256)
    if not (data.is_file() and meta.is_file()):
        return None
    state = json.loads(meta.read_text())
    held = _cache.get(recogniser_sha256)
    if held is not None and held.generation == state.get("generation", ""):
        return held
    index = faiss.read_index(str(data))
    return FaceIndex(recogniser_sha256, index, state["last_id"], state["trained_at"], state.get("generation", ""))


def _save(face_index: FaceIndex) -> None:
    import faiss

    data, meta = _paths(face_index.recogniser_sha256)
    faiss.write_index(face_index.index, str(data.with_suffix(".tmp")))
    data.with_suffix(".tmp").replace(data)
    face_index.generation = uuid.uuid4().hex
    state = {"last_id": face_index.last_id, "trained_at": face_index.trained_at, "size": face_index.size,
             "generation": face_index.generation}  # fmt: skip
    meta.with_suffix(".jsontmp").write_text(json.dumps(state))
    meta.with_suffix(".jsontmp").replace(meta)


def _outgrown(face_index: FaceIndex) -> bool:
    """Whether the index should be of another kind now (exact grown past EXACT_BELOW, or an inverted-file index
    whose faces doubled since it was trained)."""
    exact = face_index.trained_at < EXACT_BELOW  # built as an exact index
    return face_index.size >= (EXACT_BELOW if exact else 2 * face_index.trained_at)


def face_index_current(*, recogniser_sha256: str, dim: int) -> FaceIndex | None:
    """The index of this recogniser's faces as a search uses it: the file's, with at most CATCH_UP newer faces
    added. When it is further behind the database (or there is none and more than CATCH_UP faces), the maintenance
    is queued and the index returned as it is (None: none yet)."""
    with _lock, _file_lock(recogniser_sha256):
        current = _held(recogniser_sha256)
        faces = recogniser_faces(recogniser_sha256)
        if current is None:
            if faces.count() > CATCH_UP:
                face_index_queue(recogniser_sha256)
                return None
            current = _rebuilt(recogniser_sha256, dim)
            _save(current)
        else:
            newer = faces.filter(pk__gt=current.last_id)
            stored = faces.filter(pk__lte=current.last_id).aggregate(count=Count("pk"), sum=Sum("pk"))
            behind = (stored["count"], stored["sum"] or 0) != (current.size, current.id_sum)
            count = newer.count()
            if count > CATCH_UP:
                behind = True
            elif count:
                current = _copy(current)
                _extend(current, newer)
                _save(current)
            if behind or _outgrown(current):
                face_index_queue(recogniser_sha256)
        _cache[recogniser_sha256] = current
        return current


def _copy(face_index: FaceIndex) -> FaceIndex:
    """A copy of the index to change: an index held in _cache is never changed, since searches in other threads
    (the gRPC server's pool, outside _lock) may be using it; the copy replaces it in _cache once written."""
    import faiss

    index = faiss.clone_index(face_index.index)
    inverted = faiss.try_extract_index_ivf(index)
    if inverted is not None:
        inverted.nprobe = faiss.extract_index_ivf(face_index.index).nprobe
    return FaceIndex(face_index.recogniser_sha256, index, face_index.last_id, face_index.trained_at,
                     face_index.generation)  # fmt: skip


def _extend(face_index: FaceIndex, faces: QuerySet[Face]) -> None:
    """Add `faces` to an index not yet shared (a _copy or one just built)."""
    for ids, vectors in _rows(faces):
        face_index.index.add_with_ids(vectors, ids)
        face_index.last_id = max(face_index.last_id, int(ids.max()))


def face_index_queue(recogniser_sha256: str) -> None:
    """Queue the maintenance of the recogniser's index on the jobs queue, unless one was queued in the last
    QUEUED_FOR seconds and has not started."""
    if cache.add(f"faceindex-queued:{recogniser_sha256}", 1, timeout=QUEUED_FOR):
        transaction.on_commit(lambda: canvas.face_index_signature(recogniser_sha256).apply_async())


def face_index_maintain(*, recogniser_sha256: str) -> FaceIndex | None:
    """Bring the recogniser's index level with the database: add the faces it lacks, remove those gone, rebuild it
    when it has none yet or should be of another kind. None when there is neither an index nor a face. Faces gone
    from an inverted-file index rebuild it: its id map cannot take removals (faiss renumbers only flat indexes)."""
    import faiss
    import numpy as np

    cache.delete(f"faceindex-queued:{recogniser_sha256}")
    with _lock, _file_lock(recogniser_sha256):
        current = _held(recogniser_sha256)
        faces = recogniser_faces(recogniser_sha256)
        stored = np.fromiter(faces.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=_CHUNK), "int64")
        if current is None and not len(stored):
            return None
        held = _held_ids(current) if current is not None else np.zeros(0, dtype="int64")
        gone = np.setdiff1d(held, stored, assume_unique=True)
        flat = current is not None and isinstance(faiss.downcast_index(current.index.index), faiss.IndexFlat)
        if current is None or _outgrown(current) or (len(gone) and not flat):
            dim = current.index.d if current is not None else _dim(faces)
            current = _rebuilt(recogniser_sha256, dim)
        else:
            missing = np.setdiff1d(stored, held, assume_unique=True)
            current = _copy(current)
            if len(gone):
                current.index.remove_ids(gone)
            for start in range(0, len(missing), _CHUNK):
                _extend(current, faces.filter(pk__in=missing[start : start + _CHUNK].tolist()))
            current.last_id = int(stored.max()) if len(stored) else 0
            if _outgrown(current):
                current = _rebuilt(recogniser_sha256, current.index.d)
        _save(current)
        _cache[recogniser_sha256] = current
        return current


def _held_ids(face_index: FaceIndex):
    import faiss
    import numpy as np

    return np.sort(faiss.vector_to_array(face_index.index.id_map).astype("int64"))


def _dim(faces: QuerySet[Face]) -> int:
    first = faces.values_list("embedding", flat=True).first()
    return len(bytes(first)) // 4 if first is not None else 0


def face_index_forget() -> None:
    """Drop the indexes this process holds in memory (their files stay); a test's fixture calls it."""
    with _lock:
        _cache.clear()
