"""Clustering a case's faces into persons, and the settings it runs with.

`persons_update` looks at the faces of the case that clustering has not seen (in blocks of CHUNK faces, each block
in its own transaction under the case's row lock, so that corrections and clustering are applied one after the
other): a face is attached to the nearest person within the case's maximum distance unless it was rejected from
that person; the faces that attach to none are grouped with DBSCAN, together with the earlier unattached faces
that lie near them, and each group of at least the case's minimum faces becomes a new person. Clustering never
moves a face assigned by hand, never attaches a face to a person it was rejected from, and never merges persons
(only a member does). A face left in no person is recorded as seen (an assignment without a person), so it is not
taken up again as new.

`persons_recluster` starts over under the same rules: it forgets what clustering did, keeps every person a member
made or corrected (named, with faces assigned by hand, or changed by a member: split, merged, faces
rejected), and runs the update over
every face of the case.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from audit.services import audit_record
from cases.models import Case
from cases.services import case_locked
from content.models import Face
from database.bulk import bulk_insert
from persons import clustering
from persons.casestate import CaseState, case_state, case_state_commit, persons_changed
from persons.models import (
    ClusteringRun,
    FaceAssignment,
    FaceRejection,
    PendingImage,
    Person,
    PersonChange,
    PersonSettings,
)

# New faces clustered per transaction.
CHUNK = 5000
# Faces read from the database at once.
READ = 8192
CLUSTERING = "clustering"
# An update queued this long ago and not started is taken for lost, and queued again.
QUEUED_STALE = 600


def person_settings(*, case_id: int) -> PersonSettings:
    """The case's clustering settings (made with the defaults on first use)."""
    row, _ = PersonSettings.objects.get_or_create(
        case_id=case_id,
        defaults={"min_faces": settings.PERSONS_MIN_FACES, "max_distance": settings.PERSONS_MAX_DISTANCE},
    )
    return row


def persons_pending_add(*, case_id: int, image_ids: Iterable[int]) -> None:
    """Record images whose faces the next update of the case's persons looks at."""
    bulk_insert(PendingImage, [{"case_id": case_id, "image_id": i} for i in sorted(set(image_ids))])


@contextmanager
def persons_pending(*, case_id: int) -> Iterator[list[int]]:
    """The images pending for the case (yielded); those read are no longer pending once the block ends without an
    error (an update that failed leaves them for the next)."""
    rows = list(PendingImage.objects.filter(case_id=case_id).values_list("pk", "image_id"))
    yield [image_id for _, image_id in rows]
    for start in range(0, len(rows), READ):
        PendingImage.objects.filter(pk__in=[pk for pk, _ in rows[start : start + READ]]).delete()


def persons_update_claim(*, case_id: int) -> bool:
    """Whether an update of the case's persons should be queued now: True for one caller until that update starts
    (or, lost, until QUEUED_STALE seconds passed), so that at most one is pending per case."""
    person_settings(case_id=case_id)
    now = timezone.now()
    stale = now - dt.timedelta(seconds=QUEUED_STALE)
    return bool(
        PersonSettings.objects.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale), case_id=case_id).update(
            queued_at=now
        )
    )


@dataclass
class _Totals:
    faces: int = 0
    attached: int = 0
    grouped: int = 0
    persons_created: int = 0


def persons_update(*, case: Case, faces: QuerySet[Face], full: bool = False) -> ClusteringRun:
    """Cluster the faces of `faces` (the case's, as the caller knows them) that clustering has not seen yet."""
    PersonSettings.objects.filter(case=case).update(queued_at=None)  # faces saved from now on queue another update
    config = person_settings(case_id=case.pk)
    if not config.model_sha256:
        newest = faces.filter(result__model_sha256__gt="").order_by("-pk").values_list(
            "result__model_name", "result__model_sha256"
        ).first()  # fmt: skip
        if newest:
            config.model_name, config.model_sha256 = newest
            config.save(update_fields=["model_name", "model_sha256"])
    run = ClusteringRun.objects.create(
        case=case, kind=ClusteringRun.Kind.FULL if full else ClusteringRun.Kind.INCREMENTAL,
        min_faces=config.min_faces, max_distance=config.max_distance, model_name=config.model_name,
        model_sha256=config.model_sha256, started_at=timezone.now(),
    )  # fmt: skip
    seen = FaceAssignment.objects.filter(case=case, face_id=OuterRef("pk"))  # by the index assignment_once
    ids = list(
        faces.filter(result__model_sha256=config.model_sha256)
        .exclude(Exists(seen))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    totals = _Totals()
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            case_locked(case_id=case.pk)
            _chunk(case, config, ids[start : start + CHUNK], totals)
    ClusteringRun.objects.filter(pk=run.pk).update(
        faces=totals.faces, attached=totals.attached, grouped=totals.grouped,
        persons_created=totals.persons_created, finished_at=timezone.now(),
    )  # fmt: skip
    if totals.faces:
        audit_record(
            "persons.cluster", target=case.reference, detail=f"{run.kind}: {totals.faces} faces",
            faces=totals.faces, attached=totals.attached, grouped=totals.grouped,
            persons_created=totals.persons_created, min_faces=config.min_faces, max_distance=config.max_distance,
            model_sha256=config.model_sha256,
        )  # fmt: skip
    run.faces, run.attached, run.grouped = totals.faces, totals.attached, totals.grouped
    run.persons_created = totals.persons_created
    return run


def persons_recluster(*, case: Case, faces: QuerySet[Face]) -> ClusteringRun:
    """Forget what clustering did in the case and cluster all its faces again, keeping what members decided."""
    with transaction.atomic():
        case_locked(case_id=case.pk)
        FaceAssignment.objects.filter(case=case, how=FaceAssignment.How.CLUSTER).delete()
        by_member = PersonChange.objects.filter(person=OuterRef("pk")).exclude(user_label=CLUSTERING)
        by_hand = FaceAssignment.objects.filter(person=OuterRef("pk"), how=FaceAssignment.How.MANUAL)
        kept = Q(name__gt="") | Exists(by_hand) | Exists(by_member)
        keep = set(Person.objects.filter(case=case).filter(kept).values_list("pk", flat=True))
        Person.objects.filter(case=case).exclude(pk__in=keep).delete()
        persons_changed(case_id=case.pk)
        # Kept persons keep their centroids (what their faces were), so that their faces come back to them.
        for person_id in keep:
            count = FaceAssignment.objects.filter(person_id=person_id).count()
            Person.objects.filter(pk=person_id).update(face_count=count, representative=None)
    run = persons_update(case=case, faces=faces, full=True)
    for person in Person.objects.filter(pk__in=keep, representative__isnull=True, face_count__gt=0):
        with transaction.atomic():
            case_locked(case_id=case.pk)
            person_refresh(person)
    return run


def person_refresh(person: Person) -> None:
    """Recompute a person's centroid, size and representative face from its faces (read in blocks). A person left
    with no faces keeps its centroid: a kept person takes its faces back on re-clustering."""
    total, count = None, 0
    rows = Face.objects.filter(pk__in=person.assignments.values("face_id")).order_by("pk")
    last = 0
    while True:
        block = list(rows.filter(pk__gt=last).values_list("pk", "embedding")[: clustering.BLOCK])
        if not block:
            break
        last = block[-1][0]
        vectors = clustering.embeddings([bytes(b) for _, b in block])
        total = vectors.sum(axis=0) if total is None else total + vectors.sum(axis=0)
        count += len(block)
    person.representative_id = None
    if count:
        mean = total / count
        person.centroid = mean.astype("<f4").tobytes()
        person.representative_id = _representative(person, mean)
    person.face_count = count
    person.save(update_fields=["centroid", "face_count", "representative", "updated_at"])
    persons_changed(case_id=person.case_id)


def _representative(person: Person, mean: np.ndarray) -> int | None:
    direction = clustering.centroid(mean)
    best, best_sim = None, -np.inf
    faces = Face.objects.filter(pk__in=person.assignments.values("face_id")).order_by("pk")
    last = 0
    while True:
        block = list(faces.filter(pk__gt=last).values_list("pk", "embedding")[: clustering.BLOCK])
        if not block:
            return best
        last = block[-1][0]
        sims = clustering.embeddings([bytes(b) for _, b in block]) @ direction
        i = int(np.argmax(sims))
        if sims[i] > best_sim:
            best, best_sim = block[i][0], float(sims[i])


def _chunk(case: Case, config: PersonSettings, face_ids: list[int], totals: _Totals) -> None:
    # Under the case's lock: faces another update took meanwhile (one queued while this one ran) are left to it.
    seen = FaceAssignment.objects.filter(case=case, face_id=OuterRef("pk"))
    unseen = Face.objects.filter(pk__in=face_ids).exclude(Exists(seen))
    rows = list(unseen.order_by("pk").values_list("pk", "embedding"))
    if not rows:
        return
    now = timezone.now()
    ids = [pk for pk, _ in rows]
    vectors = clustering.normalised(clustering.embeddings([bytes(b) for _, b in rows]))
    state = case_state(case_id=case.pk, dim=vectors.shape[1])
    rejected: dict[int, set[int]] = defaultdict(set)
    row_of = {pk: i for i, pk in enumerate(ids)}
    for face_id, person_id in FaceRejection.objects.filter(case=case, face_id__in=ids).values_list(
        "face_id", "person_id"
    ):
        if (position := state.position(person_id)) is not None:
            rejected[row_of[face_id]].add(position)
    near = clustering.nearest(vectors, state.directions, max_distance=config.max_distance, rejected=rejected)
    assignments, attached = [], defaultdict(list)
    for row, target in enumerate(near):
        if target != clustering.NOISE:
            attached[int(target)].append(row)
    rest = [row for row, target in enumerate(near) if target == clustering.NOISE]
    # The earlier unattached faces near the new ones may form a person with them.
    hit = clustering.within(vectors[rest], state.noise, max_distance=config.max_distance)
    pool_ids, pool = [int(pk) for pk in state.noise_ids[hit]], state.noise[hit]
    labels = clustering.group(
        np.concatenate([vectors[rest], pool]) if len(pool) else vectors[rest],
        min_faces=config.min_faces, max_distance=config.max_distance,
    )  # fmt: skip
    members: dict[int, list[int]] = defaultdict(list)  # label -> face ids
    for position, label in enumerate(labels):
        if label != clustering.NOISE:
            members[int(label)].append(ids[rest[position]] if position < len(rest) else pool_ids[position - len(rest)])
    grouped = {face_id for face_ids_ in members.values() for face_id in face_ids_}
    # Faces attached to persons that exist: their means move by what joined them.
    moved, history, changed = [], [], _Changed()
    for i, face_rows in attached.items():
        person_id, count = int(state.person_ids[i]), int(state.counts[i])
        mean = (state.means[i] * count + vectors[face_rows].sum(axis=0)) / (count + len(face_rows))
        representative = (
            int(state.representatives[i])
            or ids[face_rows[int(np.argmax(vectors[face_rows] @ clustering.centroid(mean)))]]
        )
        moved.append(
            Person(
                pk=person_id, centroid=mean.astype("<f4").tobytes(), face_count=count + len(face_rows),
                representative_id=representative, updated_at=now,
            )
        )  # fmt: skip
        changed.add(person_id, count + len(face_rows), representative, mean)
        assignments += [_row(case, ids[r], person_id, now) for r in face_rows]
        history.append(_history(person_id, PersonChange.Action.ATTACHED, len(face_rows), now))
        totals.attached += len(face_rows)
    vector_of = {face_id: vectors[row] for row, face_id in enumerate(ids)}
    for position, face_id in enumerate(pool_ids):
        vector_of[face_id] = pool[position]
    for face_ids_ in members.values():
        group_vectors = np.stack([vector_of[f] for f in face_ids_])
        mean = group_vectors.mean(axis=0)
        representative = face_ids_[int(np.argmax(group_vectors @ clustering.centroid(mean)))]
        person = Person.objects.create(
            case=case, centroid=mean.astype("<f4").tobytes(), face_count=len(face_ids_),
            representative_id=representative,
        )  # fmt: skip
        changed.add(person.pk, len(face_ids_), representative, mean)
        FaceAssignment.objects.filter(case=case, face_id__in=face_ids_, person__isnull=True).update(
            person=person, at=now
        )  # the earlier unattached faces in the group
        assignments += [_row(case, f, person.pk, now) for f in face_ids_ if f in row_of]
        history.append(_history(person.pk, PersonChange.Action.CREATED, len(face_ids_), now))
        totals.persons_created += 1
        totals.grouped += sum(1 for f in face_ids_ if f in row_of)
    noise_rows = [r for r in rest if ids[r] not in grouped]
    assignments += [_row(case, ids[r], None, now) for r in noise_rows]
    Person.objects.bulk_update(moved, ["centroid", "face_count", "representative", "updated_at"], batch_size=1000)
    bulk_insert(FaceAssignment, assignments)
    bulk_insert(PersonChange, history)
    state = changed.applied(state).with_noise(
        np.array([ids[r] for r in noise_rows], dtype=np.int64), vectors[noise_rows], grouped
    )
    case_state_commit(case_id=case.pk, state=state)
    totals.faces += len(ids)


@dataclass
class _Changed:
    """The persons a chunk changed or made, as the case's state takes them."""

    ids: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    representatives: list[int] = field(default_factory=list)
    means: list[np.ndarray] = field(default_factory=list)

    def add(self, person_id: int, count: int, representative: int, mean: np.ndarray) -> None:
        self.ids.append(person_id)
        self.counts.append(count)
        self.representatives.append(representative)
        self.means.append(mean.astype(np.float32))

    def applied(self, state: CaseState) -> CaseState:
        if not self.ids:
            return state
        return state.with_persons(
            np.array(self.ids, dtype=np.int64), np.array(self.counts, dtype=np.int64),
            np.array(self.representatives, dtype=np.int64), np.stack(self.means),
        )  # fmt: skip


def _row(case: Case, face_id: int, person_id: int | None, now) -> dict:
    how = FaceAssignment.How.CLUSTER
    return {"case_id": case.pk, "face_id": face_id, "person_id": person_id, "how": how, "at": now, "by_id": None}


def _history(person_id: int, action: str, faces: int, now) -> dict:
    return {"person_id": person_id, "action": action, "faces": faces, "user_label": CLUSTERING, "at": now,
            "detail": "", "user_id": None}  # fmt: skip
