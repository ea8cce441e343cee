"""`manage.py categories list|set|confirm` and the export's review fields, run as an investigator runs them (in a
subprocess, against the test database): the member `--as` names acts, with their role's rights and the four-eyes
rule, on the record as done at the command line by them; one-line refusals; an image the case's jobs did not find is
refused whether another case holds it or none."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from cases.services import case_create, case_member_set, scheme_named
from jobs.selectors import EXPORT_FIELDS, file_instances_for_export
from review.models import Categorisation
from review.services import bookmark_set, category_set, note_add
from tests.support.bulk import image
from tests.support.environment import REPO
from tests.support.processes import child_run
from tests.support.review import images_in_case

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return child_run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _sha(n: int) -> str:
    return image(n)["sha256"]


@pytest.fixture
def lab(transactional_db, tmp_path):
    """Case 2024-017 (Project VIC: 1 and 2 need confirmation) led by alice, bob its examiner, carol its reviewer,
    dave no member; its job found images 1-3. Case 2024-099, dave's, found image 9."""
    users = get_user_model().objects
    names = ("alice", "bob", "carol", "dave")
    alice, bob, carol, dave = (users.create_user(username=n, email=f"{n}@lab.example") for n in names)
    case = case_create(reference="2024-017", title="Op. Example", owner=alice, scheme=scheme_named(name="Project VIC"))
    case_member_set(case=case, user=bob, role="examiner")
    case_member_set(case=case, user=carol, role="reviewer")
    job, pictures = images_in_case(case=case, owner=alice, source=tmp_path, numbers=range(1, 4))
    images_in_case(case=case_create(reference="2024-099", title="other", owner=dave), owner=dave, source=tmp_path,
                   numbers=range(9, 10))  # fmt: skip
    return {"case": case, "job": job, "images": pictures, "alice": alice, "bob": bob, "carol": carol, "dave": dave}


def test_set_and_confirm_as_a_member_with_four_eyes_and_one_line_refusals(lab, worker_env, tmp_path):
    case, alice, carol = lab["case"], lab["alice"], lab["carol"]
    done = manage(worker_env, "categories", "set", "--case", "2024-017", "--category", "1", "--as", "alice",
                  _sha(1), _sha(2).upper())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "case 2024-017: 2 changed, 2 proposed, 0 unchanged"
    (event,) = AuditEvent.objects.filter(action="review.category.set")
    assert (event.via, event.user_id, event.outcome) == ("cli", alice.pk, "ok")
    assert event.client.startswith("os user ")

    own = manage(worker_env, "categories", "confirm", "--case", "2024-017", "--as", "alice@lab.example", _sha(1))
    assert own.returncode != 0
    assert own.stdout.strip() == "case 2024-017: 0 changed, 0 unchanged"
    assert own.stderr.strip().splitlines() == [
        "CommandError: 1 of the images were proposed by alice@lab.example: another member confirms them"
    ]
    refused = AuditEvent.objects.get(action="review.category.confirm", outcome="refused")
    assert (refused.via, refused.user_id) == ("cli", alice.pk)

    # Bob confirms, the images named in a file as sha256sum writes them.
    listing = tmp_path / "sums.txt"
    listing.write_text(f"# pictures of EX-1\n{_sha(1)}  img-1.jpg\n\n", encoding="utf-8")
    done = manage(worker_env, "categories", "confirm", "--case", "2024-017", "--as", "bob", "--from-file", str(listing))
    assert done.stdout.strip() == "case 2024-017: 1 changed, 1 confirmed, 0 unchanged", done.stderr
    statuses = dict(Categorisation.objects.filter(case=case).values_list("image__sha256", "status"))
    assert statuses == {_sha(1): "confirmed", _sha(2): "proposed"}

    def refusal(*args: str) -> list[str]:
        ended = manage(worker_env, "categories", *args)
        assert ended.returncode != 0
        return ended.stderr.strip().splitlines()

    change = ("set", "--case", "2024-017", "--category", "5")
    assert refusal(*change, "--as", "carol", _sha(3)) == [
        "CommandError: a reviewer (read-only) may not change what the case records"
    ]
    assert AuditEvent.objects.get(action="review.category.set", outcome="refused").user_id == carol.pk
    assert refusal(*change, "--as", "dave", _sha(3)) == ["CommandError: dave@lab.example is no member of case 2024-017"]
    assert refusal("set", "--case", "2024-017", "--category", "A", "--as", "bob", _sha(3)) == [
        "CommandError: the case's scheme has no category 'A'"
    ]
    assert refusal("set", "--case", "2024-404", "--category", "5", "--as", "bob", _sha(3)) == [
        "CommandError: no such case: 2024-404"
    ]
    assert refusal(*change, "--as", "zed", _sha(3)) == ["CommandError: no single user with username or email 'zed'"]
    for digest in (_sha(9), "e" * 64):  # another case's image, and one that exists nowhere
        assert refusal(*change, "--as", "bob", _sha(3), digest) == [
            f"CommandError: no image {digest} in case 2024-017: nothing changed"
        ]
    assert refusal(*change, "--as", "bob", "img-3.jpg") == [
        "CommandError: not a SHA-256 (64 hexadecimal digits): 'img-3.jpg'"
    ]
    assert refusal(*change, "--as", "bob") == ["CommandError: name the images: SHA-256 arguments or --from-file FILE"]
    assert not Categorisation.objects.filter(case=case, image__sha256=_sha(3)).exists()


def test_list_and_export_carry_the_categories_bookmarks_and_notes(lab, worker_env):
    case, job, pictures, alice, bob = lab["case"], lab["job"], lab["images"], lab["alice"], lab["bob"]
    assert manage(worker_env, "categories", "set", "--case", "2024-017", "--category", "1", "--as", "alice",
                  _sha(1), _sha(2)).returncode == 0  # fmt: skip
    assert manage(worker_env, "categories", "confirm", "--case", "2024-017", "--as", "bob", _sha(1)).returncode == 0
    bookmark_set(case=case, user=bob, image_ids=[pictures[2].pk], on=True)
    bookmark_set(case=case, user=alice, image_ids=[pictures[2].pk], on=True)
    note_add(case=case, user=alice, image_id=pictures[2].pk, text='=HYPERLINK("x") seen on EX-2 too')
    note_add(case=case, user=bob, image_id=pictures[2].pk, text="second line\nof a note")

    listed = manage(worker_env, "categories", "list", "--case", "2024-017", "--batch", "2")
    assert listed.stdout.splitlines() == [
        f"{_sha(1)}\t1\tconfirmed\talice@lab.example (confirmed by bob@lab.example)",
        f"{_sha(2)}\t1\tproposed\talice@lab.example",
        f"{_sha(3)}\t-\t-\t-",
    ]
    records = [json.loads(line) for line in manage(worker_env, "categories", "list", "--case", "2024-017",
                                                   "--json").stdout.splitlines()]  # fmt: skip
    assert [(r["sha256"], r["status"], r["bookmarked_by"]) for r in records] == [
        (_sha(1), "confirmed", []), (_sha(2), "proposed", []), (_sha(3), "", ["bob@lab.example", "alice@lab.example"]),
    ]  # fmt: skip
    assert [(n["by"], n["text"]) for n in records[2]["notes"]] == [
        ("alice@lab.example", "=HYPERLINK(\"x\") seen on EX-2 too"), ("bob@lab.example", "second line\nof a note"),
    ]  # fmt: skip

    # The export: the review fields follow "case", in this order.
    assert EXPORT_FIELDS[23:29] == ["case", "category", "category_by", "bookmarks", "notes", "category_status"]
    exported = [json.loads(line) for line in manage(worker_env, "export", str(job.pk)).stdout.splitlines()]
    by_path = {r["path"]: r for r in exported}
    review = ("category", "category_by", "category_status", "bookmarks")
    assert [tuple(by_path[f"img-{n}.jpg"][f] for f in review) for n in (1, 2, 3)] == [
        ("1", "alice@lab.example (confirmed by bob@lab.example)", "confirmed", ""),
        ("1", "alice@lab.example", "proposed", ""),
        ("", "", "", "bob@lab.example; alice@lab.example"),
    ]
    assert by_path["img-1.jpg"]["notes"] == []
    assert [n["text"] for n in by_path["img-3.jpg"]["notes"]] == [
        "=HYPERLINK(\"x\") seen on EX-2 too", "second line\nof a note",
    ]  # fmt: skip
    rows = {
        row["path"]: row
        for row in csv.DictReader(
            io.StringIO(manage(worker_env, "export", str(job.pk), "--format", "csv").stdout, newline="")
        )
    }
    assert list(rows["img-1.jpg"]) == EXPORT_FIELDS
    assert rows["img-1.jpg"]["category_by"] == "alice@lab.example (confirmed by bob@lab.example)"
    assert json.loads(rows["img-3.jpg"]["notes"]) == by_path["img-3.jpg"]["notes"]  # JSON text: no formula to run
    # A dispute shows in the status.
    Categorisation.objects.filter(case=case, image=pictures[1]).update(disputed=True)
    again = {r["path"]: r for r in map(json.loads, manage(worker_env, "export", str(job.pk)).stdout.splitlines())}
    assert again["img-2.jpg"]["category_status"] == "proposed, disputed"


@pytest.mark.django_db
def test_the_export_reads_the_review_fields_in_the_same_queries_whatever_the_number_of_images(tmp_path):
    users = get_user_model().objects
    alice, bob = (users.create_user(username=n, email=f"{n}@lab.example") for n in ("alice", "bob"))
    case = case_create(reference="2024-017", title="Op. Example", owner=alice)
    case_member_set(case=case, user=bob, role="examiner")

    def queries(count: int) -> int:
        job, pictures = images_in_case(case=case, owner=alice, source=tmp_path, numbers=range(100 * count, 101 * count))
        ids = [p.pk for p in pictures]
        category_set(case=case, user=alice, code="pertinent", image_ids=ids)
        bookmark_set(case=case, user=bob, image_ids=ids, on=True)
        for image_id in ids:
            note_add(case=case, user=bob, image_id=image_id, text="seen")
        with CaptureQueriesContext(connection) as captured:
            records = list(file_instances_for_export(job=job))
        assert {(r["category"], r["bookmarks"], len(r["notes"])) for r in records} == {
            ("pertinent", "bob@lab.example", 1)
        }
        return len(captured)

    assert queries(2) == queries(9)
