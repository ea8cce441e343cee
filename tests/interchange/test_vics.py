"""The VICS export round trip, as an investigator runs it (`python manage.py ...` in subprocesses, real workers):
scan a folder into a Project VIC case, categorise some of its images, export the case as VICS, import that file as
a hash set with `manage.py hashsets import`; the set holds exactly the categorised images' hashes with their
categories, and a new scan of the same files, in another case, matches them. A case whose scheme has no numbers is
refused, on the record."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, scheme_named
from hashsets.models import HashEntry, HashSet
from jobs.models import FileInstance, HashMatch, Job
from jobs.samples import write_photo
from review.models import Categorisation
from review.services import category_confirm, category_set
from tests.support.environment import REPO
from tests.support.interchange import HOSTILE_NAME
from tests.support.processes import child_run

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return child_run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )


def test_a_vics_export_imports_back_as_the_same_hashes_and_categories_and_a_new_scan_matches_them(
    transactional_db, workers, worker_env, evidence_folder, tmp_path
):
    users = get_user_model().objects
    alice, bob = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "bob"))
    vic = scheme_named(name="Project VIC")
    case = case_create(reference="2024-017", title="Op. Example", owner=alice, scheme=vic)
    case_member_set(case=case, user=bob, role="examiner")
    for name, seed in (("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3), ("d.jpg", 4)):
        write_photo(evidence_folder / name, width=96, height=64, seed=seed)
    (evidence_folder / HOSTILE_NAME.decode()).write_bytes((evidence_folder / "a.jpg").read_bytes())
    done = manage(worker_env, "scan", str(evidence_folder), "--case", "2024-017", "--stages", "exif,pdq")
    assert done.returncode == 0, done.stderr
    job = Job.objects.get(case=case)
    image = {
        path: instance.image
        for path, instance in ((i.path, i) for i in FileInstance.objects.filter(job=job).select_related("image"))
    }
    a, b, c = image["a.jpg"], image["b.jpg"], image["c.jpg"]
    category_set(case=case, user=alice, code="1", image_ids=[a.pk])
    assert category_confirm(case=case, user=bob, image_ids=[a.pk]).confirmed == 1
    category_set(case=case, user=bob, code="5", image_ids=[b.pk])  # needs no confirmation: set
    category_set(case=case, user=bob, code="2", image_ids=[c.pk])  # only proposed: left out
    assert Categorisation.objects.get(image=c).status == "proposed"

    out = tmp_path / "2024-017.vics.json"
    exported = manage(worker_env, "export", "--case", "2024-017", "--format", "vics", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    text = out.read_text()
    assert text.isascii()  # every other character a JSON escape
    document = json.loads(text)
    assert document["@odata.context"].endswith("/2.0.xml/Default/$metadata#Media")
    media = {m["SHA256"].lower(): m for m in document["value"]}
    assert set(media) == {a.sha256, b.sha256}
    assert (media[a.sha256]["Category"], media[b.sha256]["Category"]) == (1, 5)
    assert media[a.sha256]["MD5"] == a.md5.upper()
    assert media[a.sha256]["SHA1"] == a.sha1.upper()
    assert media[a.sha256]["MediaSize"] == a.size
    # Both paths of a, the hostile one as shown everywhere (one line, its escapes as data), and its PDQ hash.
    hostile = FileInstance.objects.get(job=job, image=a, path__startswith="say").path
    assert "\\u202e" in hostile
    assert sorted(f["FilePath"] for f in media[a.sha256]["MediaFiles"]) == sorted(["a.jpg", hostile])
    assert {f["SourceID"] for f in media[a.sha256]["MediaFiles"]} == {f"job {job.pk}"}
    pdq = a.pdq_hashes.get().hash
    assert media[a.sha256]["AlternativeHashes"] == [{"HashName": "PDQ", "HashValue": pdq}]
    (event,) = AuditEvent.objects.filter(action="case.export")
    assert (event.via, event.target, event.data["format"], event.data["records"]) == ("cli", "2024-017", "vics", 2)
    assert event.data["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"SHA-256 {event.data['sha256']}" in exported.stderr
    # --unconfirmed adds the proposal.
    wider = manage(worker_env, "export", str(job.pk), "--format", "vics", "--unconfirmed")
    assert {m["Category"] for m in json.loads(wider.stdout)["value"]} == {1, 2, 5}

    imported = manage(worker_env, "hashsets", "import", str(out), "--name", "2024-017 VICS", "--kind", "known-bad")
    assert imported.returncode == 0, imported.stderr
    hash_set = HashSet.objects.get(name="2024-017 VICS")
    assert (hash_set.status, hash_set.source_format, hash_set.malformed) == ("ready", "vics", 0)
    entries = set(HashEntry.objects.filter(hash_set=hash_set).values_list("algorithm", "digest", "category"))
    algorithms = HashEntry.Algorithm
    assert entries == {
        (algorithm, getattr(picture, name), code)
        for picture, code in ((a, "1"), (b, "5"))
        for algorithm, name in ((algorithms.MD5, "md5"), (algorithms.SHA1, "sha1"), (algorithms.SHA256, "sha256"))
    }

    # A new scan of the same files, in another case, matches them, with their categories.
    case_create(reference="2024-100", title="Another", owner=alice, scheme=vic)
    again = manage(worker_env, "scan", str(evidence_folder), "--case", "2024-100", "--stages", "exif")
    assert again.returncode == 0, again.stderr
    second = Job.objects.get(case__reference="2024-100")
    matched = set(
        HashMatch.objects.filter(job=second, hash_set=hash_set).values_list("file_instance__path", "category")
    )
    assert matched == {("a.jpg", "1"), (hostile, "1"), ("b.jpg", "5")}
    proposed = dict(Categorisation.objects.filter(case__reference="2024-100").values_list("image_id", "category__code"))
    assert proposed == {a.pk: "1", b.pk: "5"}


@pytest.mark.django_db
def test_vics_is_refused_for_a_scheme_without_numbers_on_the_record(tmp_path):
    from django.core.management import CommandError, call_command

    from tests.support.interchange import categorised_case

    categorised_case(tmp_path, reference="2024-050", scheme="UK CAID")
    with pytest.raises(CommandError, match=r"'UK CAID' has categories that are not numbers .*A, B, C"):
        call_command("export", "--case", "2024-050", "--format", "vics", "-o", str(tmp_path / "x.json"))
    (event,) = AuditEvent.objects.filter(action="case.export")
    assert (event.outcome, event.target) == ("refused", "2024-050")
    assert not (tmp_path / "x.json").exists()
