"""Discovery on its own (no Django): every entry of a hostile evidence tree is walked once and ends as image,
skipped or error with a clear message; nothing blocks, nothing is followed out of the source."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from evidence.probe import PROCESS_CHUNK, Probe, Status, probe, probe_all
from evidence.walk import Entry, walk
from tests.support.environment import REPO
from tests.support.evidence_trees import PIXEL_LIMIT, build_unreadable_tree, mismatches
from tests.support.images import EPS, jpeg_bytes


def _scan(root: Path) -> list[Probe]:
    raw = os.fsencode(root)
    return [probe(raw, entry, max_pixels=PIXEL_LIMIT) for entry in walk(raw)]


@pytest.mark.timeout(30)  # the tree holds a FIFO and a socket
def test_every_entry_of_a_hostile_tree_is_walked_once_and_accounted_for(hostile_source):
    root, expected = hostile_source
    probes = _scan(root)
    paths = [p.entry.relpath for p in probes]
    assert len(paths) == len(set(paths)), "an entry was yielded twice"
    found = {p.entry.relpath: {"status": p.status, "error": p.error, "note": p.note, "mime": p.mime} for p in probes}
    assert mismatches(found, expected) == []
    assert all(p.status in (Status.IMAGE, Status.SKIPPED, Status.ERROR) for p in probes)


def test_paths_longer_than_the_os_accepts_are_accounted_for(long_path_source):
    root, expected = long_path_source
    found = {p.entry.relpath: {"status": p.status, "error": p.error, "note": p.note, "mime": p.mime}
             for p in _scan(root)}  # fmt: skip
    assert mismatches(found, expected) == []


def test_hashes_are_those_of_the_bytes_on_disk(hostile_source):
    root, _ = hostile_source
    hashed = [p for p in _scan(root) if p.sha256]
    assert len(hashed) > 15
    for p in hashed:
        data = (root / os.fsdecode(p.entry.relpath)).read_bytes()
        assert (p.md5, p.sha1, p.sha256, p.size) == (
            hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data),
        ), p.entry.relpath  # fmt: skip


def test_names_are_kept_as_the_exact_bytes_on_disk(hostile_source):
    root, _ = hostile_source
    names = {p.entry.relpath for p in _scan(root) if p.entry.relpath.startswith(b"names/")}
    assert names == {b"names/line\nbreak.jpg", b"names/  spaced   name .jpg", b"names/caf\xe9 (latin-1).jpg"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("parallel", [{"threads": 2}, {"threads": 1, "processes": 2}], ids=["threads", "processes"])
def test_probes_on_threads_or_in_worker_processes_are_those_probed_in_line(hostile_source, parallel):
    root, _ = hostile_source
    raw = os.fsencode(root)
    entries = list(walk(raw)) * 3  # several chunks per worker process
    assert len(entries) > 4 * PROCESS_CHUNK
    in_line = [probe(raw, entry, max_pixels=PIXEL_LIMIT) for entry in entries]
    assert list(probe_all(raw, entries, max_pixels=PIXEL_LIMIT, **parallel)) == in_line


def _workers() -> set[int]:
    """The probe processes this process started and that are still alive."""
    return {p.pid for p in multiprocessing.active_children()}


@pytest.mark.timeout(60)
def test_probe_processes_that_die_are_replaced_and_their_files_probed_again(hostile_source):
    root, _ = hostile_source
    raw = os.fsencode(root)
    entries = list(walk(raw)) * 10
    in_line = [probe(raw, entry, max_pixels=PIXEL_LIMIT) for entry in entries]
    probes = probe_all(raw, entries, threads=1, processes=2, max_pixels=PIXEL_LIMIT)
    first = next(probes)
    killed = _workers()
    assert killed
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert [first, *probes] == in_line
    replaced = _workers()
    assert replaced
    assert replaced.isdisjoint(killed)


@dataclass(frozen=True, slots=True)
class _KillsItsWorker(Entry):
    """An entry whose mere arrival ends the process it is sent to, as a decoder crashing on a hostile file would."""

    def __reduce__(self):
        return os._exit, (70,)


@pytest.mark.timeout(60)
def test_a_file_that_kills_its_probe_process_is_an_error_and_the_others_are_probed(hostile_source):
    root, _ = hostile_source
    raw = os.fsencode(root)
    good = list(walk(raw)) * 3
    fatal = _KillsItsWorker(good[5].relpath, good[5].kind, good[5].stat)
    entries = [*good[: PROCESS_CHUNK + 5], fatal, *good[PROCESS_CHUNK + 5 :]]
    probes = list(probe_all(raw, entries, threads=1, processes=2, max_pixels=PIXEL_LIMIT))
    assert [p.entry for p in probes] == entries
    died = probes.pop(PROCESS_CHUNK + 5)
    assert (died.status, died.error, died.size) == (
        Status.ERROR, "the process reading this file died (a decoder crash, or out of memory)", good[5].stat.st_size,
    )  # fmt: skip
    assert probes == [probe(raw, entry, max_pixels=PIXEL_LIMIT) for entry in good]


@pytest.mark.timeout(10)
def test_a_file_swapped_for_a_fifo_after_listing_is_not_opened_for_reading(evidence_folder):
    """The walk saw a regular file; by the time it is read a FIFO stands there. Opening a FIFO for reading blocks
    until a writer comes, which would hang the scan for ever: it must be refused at once."""
    (evidence_folder / "swapped.jpg").write_bytes(jpeg_bytes())
    raw = os.fsencode(evidence_folder)
    (entry,) = walk(raw)
    (evidence_folder / "swapped.jpg").unlink()
    os.mkfifo(evidence_folder / "swapped.jpg")
    result = probe(raw, entry, max_pixels=PIXEL_LIMIT)
    assert result.status == Status.ERROR
    assert result.error in ("not a regular file", "file was replaced during the scan")


def test_a_file_swapped_for_a_link_after_listing_is_not_followed(evidence_folder):
    (evidence_folder / "swapped.jpg").write_bytes(jpeg_bytes())
    raw = os.fsencode(evidence_folder)
    (entry,) = walk(raw)
    (evidence_folder / "swapped.jpg").unlink()
    (evidence_folder / "swapped.jpg").symlink_to("/etc/passwd")
    result = probe(raw, entry, max_pixels=PIXEL_LIMIT)
    assert result.status == Status.ERROR
    assert result.error == "replaced by a symbolic link since it was listed; not followed"
    assert result.sha256 == ""  # nothing from outside the source was read


def test_a_link_loop_through_a_parent_folder_is_listed_once(evidence_folder):
    (evidence_folder / "a" / "b").mkdir(parents=True)
    (evidence_folder / "a" / "b" / "up").symlink_to("../..")
    (evidence_folder / "a" / "b" / "photo.jpg").write_bytes(jpeg_bytes())
    entries: list[Entry] = list(walk(os.fsencode(evidence_folder)))
    assert [e.relpath for e in entries] == [b"a/b/photo.jpg", b"a/b/up"]


# Runs as another user: prints one JSON object per entry the walk yields.
_AS_USER = """
import json, sys
from evidence.probe import probe
from evidence.walk import walk
root = sys.argv[1].encode()
for entry in walk(root):
    p = probe(root, entry, max_pixels=int(sys.argv[2]))
    print(json.dumps({"path": entry.relpath.hex(), "status": p.status, "error": p.error, "note": p.note,
                      "mime": p.mime}))
"""


@pytest.mark.integration
def test_unreadable_file_and_folder_are_errors_for_an_unprivileged_scan(evidence_folder, nobody):
    expected = build_unreadable_tree(evidence_folder)
    done = nobody.run(
        ["-c", _AS_USER, str(evidence_folder), str(PIXEL_LIMIT)],
        env=dict(os.environ), cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        found[bytes.fromhex(record.pop("path"))] = record
    assert mismatches(found, expected) == []


def _tiff_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(out, format="TIFF")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "flagged", "note"),
    [
        ("invoice_scan.txt", "jpeg", True, "the .txt extension does not match the content (image/jpeg)"),
        ("holiday.png", "jpeg", True, "the .png extension does not match the content (image/jpeg)"),
        ("backup.bak", "jpeg", True, "the .bak extension does not match the content (image/jpeg)"),
        ("disguised.jpg", "eps", True, "the .jpg extension does not match the content (application/postscript)"),
        ("IMG_0001.JPG", "jpeg", False, ""),
        ("RAW_0001.DNG", "tiff", False, ""),
        ("no-extension", "jpeg", False, ""),
        ("Scan 2020.03.14", "jpeg", False, ""),  # a suffix without a letter is part of the name, not an extension
        ("notes.txt", "text", False, ""),
        # The extension is the suspect's text: shown by the display rule, a bidi override as its escape.
        ("scan.t\u202ext", "jpeg", True, "the .t\\u202ext extension does not match the content (image/jpeg)"),
    ],
)
def test_an_extension_that_names_another_type_than_the_content_is_flagged_either_way(
    evidence_folder, name, content, flagged, note
):
    """A JPEG kept as invoice_scan.txt is as much a disguise as a PostScript file kept as photo.jpg."""
    data = {
        "jpeg": jpeg_bytes(),
        "eps": EPS,
        "tiff": _tiff_bytes(),
        "text": b"Exhibit notes: nothing here is an image.\n",
    }[content]
    (evidence_folder / name).write_bytes(data)
    raw = os.fsencode(evidence_folder)
    (entry,) = walk(raw)
    result = probe(raw, entry, max_pixels=PIXEL_LIMIT)
    assert (result.extension_mismatch, result.note) == (flagged, note)
    assert result.status == (Status.SKIPPED if content in ("eps", "text") else Status.IMAGE)


def test_the_walk_reads_birth_times_where_the_file_system_records_them(evidence_folder):
    (evidence_folder / "photo.jpg").write_bytes(jpeg_bytes())
    (evidence_folder / "link.jpg").symlink_to("photo.jpg")
    raw = os.fsencode(evidence_folder)
    for entry in walk(raw):
        # coreutils' stat reads statx too: %W is 0 where the file system has no birth time.
        shown = subprocess.run(
            ["stat", "--format=%W %.9W", os.fsdecode(os.path.join(raw, entry.relpath))],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        expected = None if shown[0] == "0" else int(shown[1].replace(".", ""))
        assert entry.birth_ns == expected, entry.relpath
