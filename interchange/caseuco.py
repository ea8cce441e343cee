"""Writing CASE/UCO JSON-LD (CASE 1.x, UCO 1.x; `case_validate` of case-utils validates it): the files a job found,
their hashes, the provenance of every stage result and what the examiners did, as one `@graph` written node by node
(a job of millions of files is never held whole).

- Each file instance is an `uco-observable:File` with a `FileFacet` (`fileName`, `filePath` relative to the source as
  shown everywhere, `sizeInBytes`, `modifiedTime`, `metadataChangeTime`, `observableCreatedTime` where recorded) and
  a `ContentDataFacet` (`mimeType`, `sizeInBytes`, its MD5, SHA1 and SHA256 as `uco-types:Hash`).
- A job's scan is a `case-investigation:InvestigativeAction` (instrument: the Image Scanner tool; performer: the
  job's owner; object: the source folder; result: a `ProvenanceRecord` with the exhibit number, holding every file).
- Each stage result is an InvestigativeAction whose instrument is the extractor (`uco-tool:Tool`, its version) and,
  where the stage used one, its model (a File named as the model, with the model file's SHA-256); its object the
  files of the image; its result an `uco-core:Annotation` saying what was found (faces, tags, PDQ, EXIF, flags). A
  result stored while a scan of the export ran is performed by that scan's owner, at the time it was stored; one
  stored before (results are kept per content and reused) has no performer, the scan's start time, and says so.
- Each change of an image's category, each note and each bookmark is an InvestigativeAction performed by the
  member (`uco-identity:Person`), at the time recorded; a category proposed by a hash set has that set for instrument.

Every node's IRI ends with a UUID (UCO's advice), derived from the case and the object's own key, so a second export
names the same things the same. Every character outside printable ASCII is a JSON escape. Pure: no database."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
TOOL_NAME = "Image Scanner"
_HASHES = (("MD5", 32), ("SHA1", 40), ("SHA256", 64))
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class FileFacts:
    key: int  # the file instance's id
    path: str
    size: int
    mime: str
    md5: str
    sha1: str
    sha256: str
    mtime: dt.datetime | None
    ctime: dt.datetime | None
    btime: dt.datetime | None


@dataclass(frozen=True)
class ScanFacts:
    key: int  # the job's id
    name: str
    source: str
    exhibit: str
    owner: str
    started: dt.datetime | None
    finished: dt.datetime | None


@dataclass(frozen=True)
class StageFacts:
    key: int  # the stage result's id
    stage: str
    version: str
    status: str  # done, failed, skipped
    error: str
    model_name: str
    model_sha256: str
    params: dict[str, Any]
    at: dt.datetime
    performer: str
    reused: bool  # stored before the job that found the image ran: `at` is that job's start, no performer
    files: tuple[int, ...]
    statement: str  # what was found ("" unless done)


@dataclass(frozen=True)
class ReviewFacts:
    key: str  # "change 12", "note 3", "bookmark 5"
    name: str  # "category set", "note", "bookmark"
    by: str  # the member, or "hash set <name>" for a hash set's proposal
    by_hash_set: bool
    at: dt.datetime
    statement: str
    files: tuple[int, ...]


def _time(value: dt.datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value.isoformat()}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


@dataclass
class CaseGraph:
    """A JSON-LD document being written to `out`: `begin`, nodes, then `end`. `namespace` makes the IRIs (one per
    case: see interchange.services)."""

    out: TextIO
    namespace: uuid.UUID
    written: int = 0
    _tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    _persons: set[str] = field(default_factory=set)

    def iri(self, kind: str, key: object) -> str:
        return f"kb:{kind}-{uuid.uuid5(self.namespace, f'{kind} {key}')}"

    def begin(self) -> None:
        self.out.write('{"@context": ' + json.dumps(CONTEXT) + ', "@graph": [')

    def node(self, node: dict[str, Any]) -> None:
        self.out.write(",\n" if self.written else "\n")
        self.written += 1
        self.out.write(json.dumps(node, ensure_ascii=True))

    def _listing(self, node: dict[str, Any], key: str, iris: Iterable[str]) -> None:
        """A node whose list `key` is written as it is read (a provenance record of every file of a job)."""
        self.out.write(",\n" if self.written else "\n")
        self.written += 1
        self.out.write(json.dumps(node, ensure_ascii=True)[:-1] + f", {json.dumps(key)}: [")
        for n, iri in enumerate(iris):
            self.out.write((", " if n else "") + json.dumps(_ref(iri)))
        self.out.write("]}")

    def _hashes(self, owner: str, digests: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        found = []
        for method, value in digests:
            if len(value) == dict(_HASHES)[method] and _HEX.fullmatch(value):
                found.append({
                    "@id": self.iri("hash", f"{owner} {method}"), "@type": "uco-types:Hash",
                    "uco-types:hashMethod": method, "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
                })  # fmt: skip
        return found

    def file(self, facts: FileFacts) -> None:
        owner = self.iri("file", facts.key)
        facet: dict[str, Any] = {
            "@id": self.iri("file-facet", facts.key), "@type": "uco-observable:FileFacet",
            "uco-observable:fileName": os.path.basename(facts.path) or facts.path,
            "uco-observable:filePath": facts.path, "uco-observable:sizeInBytes": facts.size,
        }  # fmt: skip
        for name, when in (("modifiedTime", facts.mtime), ("metadataChangeTime", facts.ctime),
                           ("observableCreatedTime", facts.btime)):  # fmt: skip
            if when is not None:
                facet[f"uco-observable:{name}"] = _time(when)
        content: dict[str, Any] = {
            "@id": self.iri("content-facet", facts.key), "@type": "uco-observable:ContentDataFacet",
            "uco-observable:sizeInBytes": facts.size,
        }  # fmt: skip
        if facts.mime:
            content["uco-observable:mimeType"] = facts.mime
        hashes = self._hashes(owner, (("MD5", facts.md5), ("SHA1", facts.sha1), ("SHA256", facts.sha256)))
        if hashes:
            content["uco-observable:hash"] = hashes
        self.node({"@id": owner, "@type": "uco-observable:File", "uco-core:hasFacet": [facet, content]})

    def _tool(self, key: str, node: dict[str, Any]) -> str:
        iri = self.iri("tool", key)
        self._tools.setdefault(iri, {"@id": iri, **node})
        return iri

    def _person(self, label: str) -> str:
        self._persons.add(label)
        return self.iri("person", label)

    def scan(self, facts: ScanFacts, files: Iterable[int]) -> None:
        """A job's scan: its action, the source folder, and the provenance record of every file in `files`."""
        scanner = self._tool("image-scanner", {"@type": "uco-tool:Tool", "uco-core:name": TOOL_NAME})
        folder = self.iri("source", facts.key)
        self.node({"@id": folder, "@type": "uco-observable:File", "uco-core:hasFacet": [{
            "@id": self.iri("source-facet", facts.key), "@type": "uco-observable:FileFacet",
            "uco-observable:filePath": facts.source, "uco-observable:isDirectory": True,
        }]})  # fmt: skip
        record = self.iri("provenance", facts.key)
        action: dict[str, Any] = {
            "@id": self.iri("scan", facts.key), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": f"scan (job {facts.key}: {facts.name})", "uco-action:instrument": _ref(scanner),
            "uco-action:object": [_ref(folder)], "uco-action:result": [_ref(record)],
        }  # fmt: skip
        if facts.owner:
            action["uco-action:performer"] = _ref(self._person(facts.owner))
        for name, when in (("startTime", facts.started), ("endTime", facts.finished)):
            if when is not None:
                action[f"uco-action:{name}"] = _time(when)
        self.node(action)
        head: dict[str, Any] = {"@id": record, "@type": "case-investigation:ProvenanceRecord",
                                "uco-core:description": f"the files job {facts.key} found"}  # fmt: skip
        if facts.exhibit:
            head["case-investigation:exhibitNumber"] = facts.exhibit
        self._listing(head, "uco-core:object", (self.iri("file", key) for key in files))

    def stage(self, facts: StageFacts) -> None:
        """One stage result's provenance: the action, and what it found."""
        instruments = [_ref(self._tool(f"stage {facts.stage} {facts.version}", {
            "@type": "uco-tool:Tool", "uco-core:name": f"{TOOL_NAME} {facts.stage} extractor",
            "uco-tool:version": facts.version, "uco-tool:toolType": "extractor",
        }))]  # fmt: skip
        if facts.model_name or facts.model_sha256:
            instruments.append(_ref(self._model(facts.model_name, facts.model_sha256)))
        files = [_ref(self.iri("file", key)) for key in facts.files]
        described = [f"{facts.stage} stage, extractor version {facts.version}"]
        if facts.params:
            described.append("parameters " + json.dumps(facts.params, sort_keys=True))
        if facts.error:
            described.append(f"{facts.status}: {facts.error}")
        if facts.reused:
            described.append("an earlier result for the same content, reused by the scan (the time is its start)")
        action: dict[str, Any] = {
            "@id": self.iri("stage-result", facts.key), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": facts.stage, "uco-core:description": "; ".join(described),
            "uco-action:actionStatus": {"done": "Success", "failed": "Fail"}.get(facts.status, "Complete/Finish"),
            "uco-action:startTime": _time(facts.at), "uco-action:instrument": instruments, "uco-action:object": files,
        }  # fmt: skip
        if facts.performer:
            action["uco-action:performer"] = _ref(self._person(facts.performer))
        if facts.statement and files:
            found = self.iri("finding", facts.key)
            action["uco-action:result"] = [_ref(found)]
            self.node({"@id": found, "@type": "uco-core:Annotation", "uco-core:statement": facts.statement,
                       "uco-core:object": files})  # fmt: skip
        self.node(action)

    def _model(self, name: str, sha256: str) -> str:
        iri = self.iri("model", f"{name} {sha256}")
        if iri not in self._tools:
            node: dict[str, Any] = {"@type": "uco-observable:File", "uco-core:name": name or sha256}
            hashes = self._hashes(iri, (("SHA256", sha256),))
            if hashes:
                node["uco-core:hasFacet"] = [{"@id": self.iri("model-facet", f"{name} {sha256}"),
                                              "@type": "uco-observable:ContentDataFacet",
                                              "uco-observable:hash": hashes}]  # fmt: skip
            self._tools[iri] = {"@id": iri, **node}
        return iri

    def review(self, facts: ReviewFacts) -> None:
        """What a member (or a hash set) did about an image of the case."""
        files = [_ref(self.iri("file", key)) for key in facts.files]
        action: dict[str, Any] = {
            "@id": self.iri("review", facts.key), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": facts.name, "uco-action:startTime": _time(facts.at), "uco-action:object": files,
        }  # fmt: skip
        if facts.by_hash_set:
            action["uco-action:instrument"] = [_ref(self._tool(facts.by, {"@type": "uco-tool:Tool",
                                                                          "uco-core:name": facts.by}))]  # fmt: skip
        elif facts.by:
            action["uco-action:performer"] = _ref(self._person(facts.by))
        if facts.statement and files:
            said = self.iri("statement", facts.key)
            action["uco-action:result"] = [_ref(said)]
            self.node({"@id": said, "@type": "uco-core:Annotation", "uco-core:statement": facts.statement,
                       "uco-core:object": files})  # fmt: skip
        self.node(action)

    def end(self, *, reference: str, title: str, jobs: Iterable[int]) -> None:
        """The tools and persons met, the investigation (the case, holding the scans), and the document's end."""
        for node in self._tools.values():
            self.node(node)
        for label in sorted(self._persons):
            self.node({"@id": self.iri("person", label), "@type": "uco-identity:Person", "uco-core:name": label})
        self.node({
            "@id": self.iri("investigation", reference), "@type": "case-investigation:Investigation",
            "uco-core:name": reference, "uco-core:description": title,
            "uco-core:object": [_ref(self.iri("scan", key)) for key in jobs],
        })  # fmt: skip
        self.out.write("\n]}\n")
