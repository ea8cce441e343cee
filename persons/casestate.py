"""What the incremental update of a case's persons compares new faces with, kept in the worker's memory between
updates so that an update reads only its own new faces from the database, whatever the size of the case: the
persons' means (with their sizes and representative faces) and the newest NOISE_POOL faces clustering left in no
person, both as float32 matrices.

The state is valid while the case's `persons_version` (PersonSettings) is the one it was read at. An update that
changes the persons bumps the version and installs the state it changed once its transaction commits; every other
change of the case's persons or faces (a member's correction, a re-cluster, a job deleted) bumps it with
`persons_changed`, and the next update reads the case again. At most settings.PERSONS_CASES_HELD cases are held per
process (the least recently used leaves first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F

from persons import clustering
from persons.models import FaceAssignment, Person, PersonSettings

# Earlier unattached faces kept and looked at again for each chunk (the newest): they may form a person with new ones.
NOISE_POOL = 20_000
# Rows read from the database at once.
_READ = 8192
_lock = threading.Lock()
_states: OrderedDict[int, CaseState] = OrderedDict()


@dataclass(frozen=True)
class CaseState:
    version: int
    person_ids: np.ndarray  # int64, one per person
    counts: np.ndarray  # int64: each person's faces
    representatives: np.ndarray  # int64: each person's representative face (0: none)
    means: np.ndarray  # float32 rows: each person's mean embedding (as stored)
    directions: np.ndarray  # the means, L2-normalised
    noise_ids: np.ndarray  # int64, ascending: the newest faces in no person
    noise: np.ndarray  # their embeddings, L2-normalised

    def position(self, person_id: int) -> int | None:
        """The row of a person (None: not held)."""
        at = int(np.searchsorted(self.person_ids, person_id))
        return at if at < len(self.person_ids) and self.person_ids[at] == person_id else None

    def with_persons(
        self, ids: np.ndarray, counts: np.ndarray, representatives: np.ndarray, means: np.ndarray
    ) -> CaseState:
        """This state with these persons' rows replaced (ids it holds) or added (ids it does not)."""
        # person_ids ascend (kept sorted): found by bisection.
        at = np.searchsorted(self.person_ids, ids)
        known = np.zeros(len(ids), dtype=bool)
        if len(self.person_ids):
            known = (at < len(self.person_ids)) & (self.person_ids[np.minimum(at, len(self.person_ids) - 1)] == ids)
        rows = at[known]
        new = ~known
        columns = []
        for held, given in ((self.counts, counts), (self.representatives, representatives), (self.means, means)):
            column = held.copy()
            column[rows] = given[known]
            columns.append(np.concatenate([column, given[new]]))
        directions = self.directions.copy()
        directions[rows] = clustering.normalised(means[known])
        person_ids = np.concatenate([self.person_ids, ids[new]])
        directions = np.concatenate([directions, clustering.normalised(means[new])])
        order = np.argsort(person_ids, kind="stable")
        return replace(
            self, person_ids=person_ids[order], counts=columns[0][order], representatives=columns[1][order],
            means=columns[2][order], directions=directions[order],
        )  # fmt: skip

    def with_noise(self, added_ids: np.ndarray, added: np.ndarray, removed: set[int]) -> CaseState:
        """This state with faces added to the noise (higher ids than any it holds) and others taken out of it."""
        keep = ~np.isin(self.noise_ids, np.fromiter(removed, dtype=np.int64, count=len(removed)))
        ids = np.concatenate([self.noise_ids[keep], added_ids])
        rows = np.concatenate([self.noise[keep], added])
        order = np.argsort(ids, kind="stable")[-NOISE_POOL:]
        return replace(self, noise_ids=ids[order], noise=rows[order])


def persons_version(*, case_id: int) -> int:
    return PersonSettings.objects.filter(case_id=case_id).values_list("persons_version", flat=True).first() or 0


def persons_changed(*, case_id: int) -> None:
    """Record that the case's persons or faces changed otherwise than by an incremental update: the state held for
    it is read again by the next update."""
    PersonSettings.objects.filter(case_id=case_id).update(persons_version=F("persons_version") + 1)


def case_state(*, case_id: int, dim: int) -> CaseState:
    """The case's state (under its row lock): the one held, when still current, or read from the database."""
    version = persons_version(case_id=case_id)
    with _lock:
        held = _states.get(case_id)
        if held is not None and held.version == version and held.means.shape[1] == dim:
            _states.move_to_end(case_id)
            return held
    return _read(case_id, version, dim)


def case_state_commit(*, case_id: int, state: CaseState) -> None:
    """Bump the case's version (under its row lock) and hold `state` as its state at the new version once the
    transaction commits. The bump is compare-and-set: where the version is no longer the one `state` was read at (a
    change by a writer that took no case lock), the version is bumped all the same and no state is held, so that the
    next update reads the case again."""
    bumped = PersonSettings.objects.filter(case_id=case_id, persons_version=state.version).update(
        persons_version=state.version + 1
    )
    if bumped:
        committed = replace(state, version=state.version + 1)
        transaction.on_commit(lambda: _hold(case_id, committed))
        return
    persons_changed(case_id=case_id)
    _forget(case_id)
    transaction.on_commit(lambda: _forget(case_id))


def case_states_forget() -> None:
    """Drop every state this process holds (a test's fixture calls it)."""
    with _lock:
        _states.clear()


def _hold(case_id: int, state: CaseState) -> None:
    with _lock:
        _states[case_id] = state
        _states.move_to_end(case_id)
        while len(_states) > settings.PERSONS_CASES_HELD:
            _states.popitem(last=False)


def _forget(case_id: int) -> None:
    with _lock:
        _states.pop(case_id, None)


def _read(case_id: int, version: int, dim: int) -> CaseState:
    persons = list(
        Person.objects.filter(case_id=case_id).order_by("pk").values_list("pk", "centroid", "face_count",
                                                                          "representative")
    )  # fmt: skip
    means = clustering.embeddings([bytes(row[1]) for row in persons], dim)
    if means.shape[1] != dim:  # persons of another recogniser: none to compare with
        persons, means = [], np.zeros((0, dim), dtype=np.float32)
    noise_ids: list[int] = []
    blocks: list[np.ndarray] = []
    rows = FaceAssignment.objects.filter(case_id=case_id, person__isnull=True).order_by("-face_id")
    last = None
    while len(noise_ids) < NOISE_POOL:
        newest = rows if last is None else rows.filter(face_id__lt=last)
        block = list(newest.values_list("face_id", "face__embedding")[:_READ])
        if not block:
            break
        last = block[-1][0]
        vectors = clustering.embeddings([bytes(b) for _, b in block])
        if vectors.shape[1] == dim:
            noise_ids += [pk for pk, _ in block]
            blocks.append(clustering.normalised(vectors))
    noise = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    order = np.argsort(np.array(noise_ids, dtype=np.int64), kind="stable")[-NOISE_POOL:]
    return CaseState(
        version=version,
        person_ids=np.array([row[0] for row in persons], dtype=np.int64),
        counts=np.array([row[2] for row in persons], dtype=np.int64),
        representatives=np.array([row[3] or 0 for row in persons], dtype=np.int64),
        means=means,
        directions=clustering.normalised(means),
        noise_ids=np.array(noise_ids, dtype=np.int64)[order],
        noise=noise[order],
    )
