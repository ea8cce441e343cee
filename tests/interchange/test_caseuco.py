"""The CASE/UCO JSON-LD export (`manage.py export ... --format case`): validated by case-utils' `case_validate`
(which rejects a document broken on purpose, so the check can fail), with the files, their hashes, the provenance of
every stage result and the examiners' actions, IRIs that are the same in a second export, and a hostile file name
kept as data."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from content.models import StageResult
from interchange.selectors import ExportScope
from interchange.services import export_write
from jobs.models import FileInstance, Job
from tests.support.interchange import FACE_MODEL, categorised_case

CASE_VALIDATE = Path(sys.executable).parent / "case_validate"


def validate(path: Path) -> subprocess.CompletedProcess:
    """case_validate on the document (offline: the CASE ontology ships with case-utils)."""
    return subprocess.run([str(CASE_VALIDATE), str(path)], capture_output=True, text=True, timeout=240)


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export", *args, "--format", "case", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def nodes_of(document: dict) -> dict[str, dict]:
    """Every node with an @id, nested ones (facets, hashes) included."""
    found: dict[str, dict] = {}

    def walk(value) -> None:
        if isinstance(value, dict):
            if "@type" in value and "@id" in value:
                found[value["@id"]] = value
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document["@graph"])
    return found


@pytest.mark.django_db
def test_a_case_export_validates_and_a_broken_one_does_not(tmp_path):
    lab = categorised_case(tmp_path)
    text = export("--case", "2024-017")
    assert text.isascii()
    document = json.loads(text)
    path = tmp_path / "case.jsonld"
    path.write_text(text)
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conforms: True" in done.stdout

    # The validator does reject: a hash that is not hex, and an action whose performer is two people.
    broken = text.replace('"@value": "' + lab["images"][0].md5 + '"', '"@value": "not hex"', 1)
    assert broken != text
    (tmp_path / "broken.jsonld").write_text(broken)
    rejected = validate(tmp_path / "broken.jsonld")
    assert rejected.returncode != 0
    assert "Conforms: False" in rejected.stdout
    assert document["@context"]["uco-core"] == "https://ontology.unifiedcyberontology.org/uco/core/"


@pytest.mark.django_db
def test_the_graph_holds_files_hashes_provenance_and_the_examiners_actions(tmp_path):
    lab = categorised_case(tmp_path)
    job, first = lab["job"], lab["images"][0]
    text = export(str(job.pk))
    nodes = nodes_of(json.loads(text))
    by_type: dict[str, list[dict]] = {}
    for node in nodes.values():
        by_type.setdefault(node["@type"], []).append(node)

    # Files: five file instances (image 1 at two paths), with their name, path, size and three hashes each.
    facets = [n for n in by_type["uco-observable:FileFacet"] if not n.get("uco-observable:isDirectory")]
    assert sorted(f["uco-observable:filePath"] for f in facets) == sorted(
        [f"img-{n}.jpg" for n in range(1, 5)] + [lab["hostile_path"]]
    )
    hostile = next(f for f in facets if f["uco-observable:filePath"] == lab["hostile_path"])
    assert hostile["uco-observable:fileName"] == lab["hostile_path"]  # one line, its escapes as data
    assert "\\u202e" in hostile["uco-observable:fileName"]
    assert "\n" not in hostile["uco-observable:fileName"]
    hashes = {(h["uco-types:hashMethod"], h["uco-types:hashValue"]["@value"]) for h in by_type["uco-types:Hash"]}
    assert {("MD5", first.md5), ("SHA1", first.sha1), ("SHA256", first.sha256), ("SHA256", FACE_MODEL[1])} <= hashes

    # Provenance: each stage result an action with its extractor (and version) and, for faces, the model.
    actions = by_type["case-investigation:InvestigativeAction"]
    named = {}
    for action in actions:
        named.setdefault(action["uco-core:name"], []).append(action)
    tools = {n["@id"]: n for n in by_type["uco-tool:Tool"]}
    (faces,) = named["faces"]
    instruments = [ref["@id"] for ref in faces["uco-action:instrument"]]
    assert tools[instruments[0]]["uco-tool:version"] == "1"
    assert tools[instruments[0]]["uco-core:name"] == "Image Scanner faces extractor"
    assert nodes[instruments[1]]["uco-core:name"] == FACE_MODEL[0]
    assert nodes[faces["uco-action:result"][0]["@id"]]["uco-core:statement"] == "2 faces found"
    assert len(faces["uco-action:object"]) == 2  # image 1's two paths
    persons = {n["@id"]: n["uco-core:name"] for n in by_type["uco-identity:Person"]}
    assert persons[faces["uco-action:performer"]["@id"]] == "alice@lab.example"
    (exif_done,) = [a for a in named["exif"] if a["uco-action:actionStatus"] == "Success"]
    statement = nodes[exif_done["uco-action:result"][0]["@id"]]["uco-core:statement"]
    assert statement.startswith("EXIF: camera Ca\\u202enon EOS 5D")  # the bidi override shown, not obeyed
    (exif_failed,) = [a for a in named["exif"] if a["uco-action:actionStatus"] == "Fail"]
    assert "truncated JPEG" in exif_failed["uco-core:description"]
    (pdq,) = named["pdq"]
    assert nodes[pdq["uco-action:result"][0]["@id"]]["uco-core:statement"] == f"PDQ {'ab' * 32}, quality 90"
    assert 'parameters {"quality_min": 50}' in pdq["uco-core:description"]

    # The examiners' actions, each by its member: set and confirm, a bookmark, a note.
    by = {name: [persons[a["uco-action:performer"]["@id"]] for a in acts] for name, acts in named.items()
          if name.startswith(("category", "note", "bookmark"))}  # fmt: skip
    assert by == {
        "category set": ["alice@lab.example", "bob@lab.example", "bob@lab.example"],
        "category confirm": ["bob@lab.example"],
        "bookmark": ["bob@lab.example"],
        "note": ["alice@lab.example"],
    }
    (note,) = named["note"]
    assert nodes[note["uco-action:result"][0]["@id"]]["uco-core:statement"] == 'seen on EX-2 too: "=1+2"\nsecond line'

    # The scan: the job's owner performed it; its provenance record holds every file, under the exhibit number.
    (scan,) = [a for a in actions if a["uco-core:name"].startswith("scan")]
    record = nodes[scan["uco-action:result"][0]["@id"]]
    assert record["case-investigation:exhibitNumber"] == "EX-1 phone"
    assert len(record["uco-core:object"]) == 5
    # Every IRI ends with a UUID, and a second export names everything the same.
    assert all(len(iri.rsplit("-", 5)[-1]) == 12 for iri in nodes)
    assert export(str(job.pk)) == text
    events = AuditEvent.objects.filter(action="job.export").order_by("id")
    assert [(e.job_id, e.data["format"], e.data["records"], e.via) for e in events] == [(job.pk, "case", 5, "cli")] * 2
    assert len(events[0].data["sha256"]) == 64


def _stage(nodes: dict[str, dict], name: str) -> dict:
    (action,) = [n for n in nodes.values() if n["@type"].endswith("InvestigativeAction") and n["uco-core:name"] == name]
    return action


@pytest.mark.django_db
def test_a_result_another_scan_stored_earlier_names_no_examiner_and_no_earlier_time(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = categorised_case(tmp_path / "a")
    # The second case's job finds the same content; its results were stored by the first case's job, before it ran.
    second = categorised_case(tmp_path / "b", reference="2024-018")
    Job.objects.filter(pk=second["job"].pk).update(owner=second["carol"])
    stored = StageResult.objects.get(image=first["images"][0], stage="faces")

    nodes = nodes_of(json.loads(export("--case", "2024-017")))
    faces = _stage(nodes, "faces")
    assert nodes[faces["uco-action:performer"]["@id"]]["uco-core:name"] == "alice@lab.example"
    assert faces["uco-action:startTime"]["@value"] == stored.created_at.isoformat()
    assert "reused" not in faces["uco-core:description"]

    text = export("--case", "2024-018")
    faces = _stage(nodes_of(json.loads(text)), "faces")
    assert "uco-action:performer" not in faces  # neither the first case's examiner nor this job's owner made it
    started = Job.objects.get(pk=second["job"].pk).started_at
    assert faces["uco-action:startTime"]["@value"] == started.isoformat()
    assert "an earlier result for the same content, reused" in faces["uco-core:description"]
    assert stored.created_at.isoformat() not in text


class _FilesArriving(io.StringIO):
    """An export's output; once the first file is written, the running scan finds another file of image 1."""

    def __init__(self, job: Job, picture) -> None:
        super().__init__()
        self.job, self.picture, self.arrived = job, picture, False

    def write(self, text: str) -> int:
        if not self.arrived and "uco-observable:File" in text:
            self.arrived = True
            path = "late.jpg"
            FileInstance.objects.create(
                job=self.job, path=path, path_digest=hashlib.sha256(path.encode()).hexdigest(), kind="file",
                size=self.picture.size, mime="image/jpeg", status=FileInstance.Status.IMAGE,
                sha256=self.picture.sha256, md5=self.picture.md5, sha1=self.picture.sha1, image=self.picture,
            )  # fmt: skip
        return super().write(text)


@pytest.mark.django_db
def test_files_a_running_scan_adds_during_an_export_are_in_no_part_of_it(tmp_path):
    lab = categorised_case(tmp_path)
    out = _FilesArriving(lab["job"], lab["images"][0])
    result = export_write(scope=ExportScope(case=lab["case"]), fmt="case", out=out)
    assert out.arrived
    assert result.records == 5
    nodes = nodes_of(json.loads(out.getvalue()))
    referenced = set(re.findall(r'"@id": "(kb:file-[0-9a-f-]+)"', out.getvalue()))
    assert referenced <= set(nodes)  # every file referenced has its node
    assert len(referenced) == 5
    assert "late.jpg" not in out.getvalue()
    assert FileInstance.objects.filter(job=lab["job"]).count() == 6
