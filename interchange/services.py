"""Writing an export other tools read (VICS JSON, CASE/UCO JSON-LD) of a job or a case, and recording it: every
export is in the audit log (`job.export` for a job, `case.export` for a whole case) with its format, how many
records it holds (VICS: media; CASE/UCO: files) and the SHA-256 of the bytes written; a VICS export the case's
scheme cannot give is refused, and the refusal recorded.

The caller (a command, a view) has checked that whoever asks may see the case."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

from audit.models import AuditEvent
from audit.services import audit_record
from cases.selectors import vics_incompatible
from interchange.caseuco import CaseGraph, StageFacts
from interchange.graph_selectors import file_bound, image_actions, job_file_keys, scope_files, scope_scans
from interchange.selectors import ExportScope, categorised_media
from interchange.vics import vics_write

FORMATS = ("vics", "case")
# The namespace of every IRI an export names (with the case's id and creation time: interchange.caseuco).
IRI_NAMESPACE = uuid.UUID("5b6c2f0e-8d1a-5c3e-9f47-2a61d0c8e4b7")


class ExportRefused(Exception):
    """The export cannot be made as asked; the message says why, in a line."""


@dataclass(frozen=True)
class ExportResult:
    records: int
    sha256: str
    size: int


class _Digesting:
    """A text stream written through, UTF-8, its SHA-256 and size taken as it goes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._hash.update(data)
        self.size += len(data)
        self._out.write(text)
        return len(text)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def case_namespace(scope: ExportScope) -> uuid.UUID:
    """The case's own namespace of IRIs: the same case gives the same IRIs in every export, two cases (here or in
    another installation, whose ids and creation times differ) different ones."""
    case = scope.case
    return uuid.uuid5(IRI_NAMESPACE, f"case {case.pk} {case.created_at.isoformat()}")


def _audit(scope: ExportScope, fmt: str, **data: Any) -> None:
    if scope.job is not None:
        audit_record("job.export", job_id=scope.job.pk, target=scope.job.name, format=fmt, case=scope.case.reference,
                     **data)  # fmt: skip
    else:
        audit_record("case.export", target=scope.case.reference, format=fmt, **data)


def export_check(*, scope: ExportScope, fmt: str) -> None:
    """Raise ExportRefused (recorded) when the export cannot be made: an unknown format, or VICS of a case whose
    scheme has categories that are not numbers. For a caller that opens a file or starts an answer only once it
    knows the export will be written."""
    if fmt not in FORMATS:
        why = f"no format {fmt[:40]!r}: one of {', '.join(FORMATS)}"
        _audit(scope, fmt[:40], outcome=AuditEvent.Outcome.REFUSED, detail=why)
        raise ExportRefused(why)
    why = vics_incompatible(scope.case) if fmt == "vics" else ""
    if why:
        _audit(scope, fmt, outcome=AuditEvent.Outcome.REFUSED, detail=why)
        raise ExportRefused(why)


def export_write(
    *, scope: ExportScope, fmt: str, out: TextIO, unconfirmed: bool = False, audited: dict[str, Any] | None = None
) -> ExportResult:
    """Write the export of `scope` in `fmt` ("vics" or "case") to `out`, and record it (with `audited` added to the
    record). VICS holds the images of the scope with a set or confirmed, undisputed category (`unconfirmed`: also
    the proposed and disputed). Raises ExportRefused (recorded) for VICS of a case whose scheme has categories that
    are not numbers."""
    export_check(scope=scope, fmt=fmt)
    sink = _Digesting(out)
    if fmt == "vics":
        count = vics_write(sink, categorised_media(scope, unconfirmed=unconfirmed))
    else:
        count = _case_write(sink, scope)
    result = ExportResult(records=count, sha256=sink.hexdigest(), size=sink.size)
    _audit(scope, fmt, records=count, sha256=result.sha256, bytes=result.size, **(audited or {}))
    return result


def _case_write(out: _Digesting, scope: ExportScope) -> int:
    graph = CaseGraph(out=out, namespace=case_namespace(scope))
    bound = file_bound(scope)  # a scan still running adds files while this is written: none past this
    graph.begin()
    files = 0
    for facts in scope_files(scope, bound):
        graph.file(facts)
        files += 1
    scans = scope_scans(scope)
    for scan in scans:
        graph.scan(scan, job_file_keys(scan.key, bound))
    for action in image_actions(scope, bound):
        if isinstance(action, StageFacts):
            graph.stage(action)
        else:
            graph.review(action)
    graph.end(reference=scope.case.reference, title=scope.case.title, jobs=[scan.key for scan in scans])
    return files
