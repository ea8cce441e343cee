"""Every format a lab imports: told from its content, read as a stream into validated lowercase entries, a bad line
reported with its number while the reading goes on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hashformats import FORMATS, MAX_LINE, Entry, FormatError, Malformed, detect, read
from tests.support import hashsets as build

ROWS = build.digests(5)


def _read(path: Path, format: str | None = None) -> tuple[str, list[Entry], list[Malformed], str, str]:
    with read(path, format) as reading:
        items = list(reading.items)
        sha256 = reading.sha256()
    entries = [item for item in items if isinstance(item, Entry)]
    malformed = [item for item in items if isinstance(item, Malformed)]
    return reading.format, entries, malformed, sha256, reading.source.version


def _pairs(entries: list[Entry]) -> set[tuple[str, str]]:
    return {(entry.algorithm, entry.digest) for entry in entries}


def _expected(*algorithms: str) -> set[tuple[str, str]]:
    index = {"md5": 0, "sha1": 1, "sha256": 2}
    return {(algorithm, row[index[algorithm]]) for row in ROWS for algorithm in algorithms}


def test_nsrl_rds_v3_gives_each_distinct_hash_once_with_the_release(tmp_path: Path) -> None:
    path = build.nsrl_rds(tmp_path, ROWS, version="2024.12.1", bad=2)
    format_, entries, malformed, sha256, version = _read(path)
    assert format_ == "nsrl-rds"
    assert sorted(_pairs(entries)) == sorted(
        _expected("md5", "sha1", "sha256")
        | {(a, f"{i:0{n}x}") for i in range(2) for a, n in (("sha1", 40), ("sha256", 64))}
    )
    assert len(entries) == len(_pairs(entries))  # each file was listed under two names
    assert [m.reason for m in malformed] == ["MD5: not a hexadecimal hash"] * 2
    assert version == "2024.12.1 modern"
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_nsrl_legacy_gives_sha1_and_md5(tmp_path: Path) -> None:
    path = build.nsrl_legacy(tmp_path, ROWS, extra_lines=['"NOTHEX","' + "0" * 32 + '","0","x",1,1,"W",""', '"short"'])
    format_, entries, malformed, sha256, _ = _read(path)
    assert format_ == "nsrl-legacy"
    assert _pairs(entries) == _expected("md5", "sha1") | {("md5", "0" * 32)}
    assert [(m.line, m.reason) for m in malformed] == [
        (7, "SHA1: not a hexadecimal hash"),
        (8, "fewer fields than the header names"),
    ]
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("version", ["1", "2"])
def test_vics_keeps_category_and_media_data(tmp_path: Path, version: str) -> None:
    bad = [{"MediaID": 99, "MD5": "zz", "SHA1": ROWS[0][1]}, {"MediaID": 100, "Category": 2}]
    path = build.vics(tmp_path, ROWS, version=version, bad=bad)
    format_, entries, malformed, _, source_version = _read(path)
    assert format_ == "vics"
    assert _pairs(entries) == _expected("md5", "sha1")
    first = next(entry for entry in entries if entry.digest == ROWS[0][0])
    assert first.category == "1"
    assert first.extra == {"MediaID": 1, "MediaSize": 2835, "PhotoDNA": "AAAB" * 36}
    assert [m.reason for m in malformed] == ["MD5: not a hexadecimal hash", "a medium with no MD5, SHA1 or SHA256"]
    text = path.read_text().splitlines()
    # Each is reported on the line its medium begins on.
    assert all(
        text[m.line - 1].strip() == "{" and f'"MediaID": {99 + i}' in text[m.line] for i, m in enumerate(malformed)
    )
    assert source_version == ("1.3" if version == "1" else "")


def test_a_medium_on_a_huge_line_gives_its_hashes_without_the_huge_value(tmp_path: Path) -> None:
    huge = {"MediaID": 7, "MD5": ROWS[1][0], "PhotoDNA": build.huge_line()}
    path = build.vics(tmp_path, ROWS[:1], version="2", bad=[huge])
    _, entries, malformed, _, _ = _read(path)
    assert _pairs(entries) == {("md5", ROWS[0][0]), ("sha1", ROWS[0][1]), ("md5", ROWS[1][0])}
    assert entries[-1].extra == {"MediaID": 7}
    assert [m.reason for m in malformed] == ["PhotoDNA longer than 1024 characters: not kept"]
    assert '"PhotoDNA": "AAAA' in path.read_text().splitlines()[malformed[0].line + 2]


def test_caid_is_read_as_vics_is(tmp_path: Path) -> None:
    format_, entries, malformed, _, _ = _read(build.caid(tmp_path, ROWS))
    assert format_ == "caid"
    assert _pairs(entries) == _expected("md5", "sha1")
    assert malformed == []


def test_json_that_breaks_off_stops_the_reading(tmp_path: Path) -> None:
    path = build.vics(tmp_path, ROWS, version="2")
    path.write_text(path.read_text()[:-40])
    with pytest.raises(FormatError):
        _read(path)


def test_hashdeep_reads_its_columns(tmp_path: Path) -> None:
    path = build.hashdeep(tmp_path, ROWS, extra_lines=["12,abc"])
    format_, entries, malformed, _, _ = _read(path)
    assert format_ == "hashdeep"
    assert _pairs(entries) == _expected("md5", "sha256")
    assert [(m.line, m.reason) for m in malformed] == [(11, "fewer fields than the header names")]


def test_md5deep_and_a_huge_line_in_the_middle(tmp_path: Path) -> None:
    path = build.md5deep(
        tmp_path, ROWS, extra_lines=[build.huge_line(), ROWS[0][2] + "  /evidence/last.jpg", "no hash"]
    )
    format_, entries, malformed, sha256, _ = _read(path)
    assert format_ == "md5deep"
    assert _pairs(entries) == _expected("md5") | {("sha256", ROWS[0][2])}
    assert [(m.line, m.reason) for m in malformed] == [
        (6, f"line longer than {MAX_LINE} bytes"),
        (8, "not a hash followed by a path"),
    ]
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_with_header_and_category(tmp_path: Path) -> None:
    path = build.csv_list(tmp_path, ROWS, extra_lines=["x.jpg," + "1" * 31 + ",,1", "too,few"])
    format_, entries, malformed, _, _ = _read(path)
    assert format_ == "csv"
    assert _pairs(entries) == _expected("md5", "sha1")
    assert {entry.category for entry in entries} == {"1", "2"}
    assert [(m.line, m.reason) for m in malformed] == [
        (7, "MD5: a hash of 31 hex digits (not MD5, SHA-1 or SHA-256)"),
        (8, "2 fields where the header names 4"),
    ]


def test_plain_list_tells_algorithms_apart_by_length(tmp_path: Path) -> None:
    path = build.plain(tmp_path, ROWS, extra_lines=["", "abc", build.huge_line(), "g" * 32])
    format_, entries, malformed, _, _ = _read(path)
    assert format_ == "plain"
    assert [(e.algorithm, e.digest) for e in entries] == [
        (("md5", "sha1", "sha256")[i % 3], row[i % 3]) for i, row in enumerate(ROWS)
    ]
    assert [(m.line, m.reason) for m in malformed] == [
        (8, "a hash of 3 hex digits (not MD5, SHA-1 or SHA-256)"),
        (9, f"line longer than {MAX_LINE} bytes"),
        (10, "not a hexadecimal hash"),
    ]


def test_pdq_list_gives_quality(tmp_path: Path) -> None:
    hashes = [(row[2].upper(), 100 - i) for i, row in enumerate(ROWS)]
    path = build.pdq(tmp_path, hashes, extra_lines=[ROWS[0][2] + ",101", ROWS[0][0] + ",50"])
    format_, entries, malformed, _, _ = _read(path)
    assert format_ == "pdq"
    assert [(e.algorithm, e.digest, e.quality) for e in entries] == [("pdq", d.lower(), q) for d, q in hashes]
    assert [(m.line, m.reason) for m in malformed] == [
        (6, "quality not a whole number from 0 to 100"),
        (7, "not a PDQ hash (64 hex digits)"),
    ]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"SQLite format 3\x00rest", "nsrl-rds"),
        (b'\xef\xbb\xbf"SHA-1","MD5","CRC32","FileName"\r\n', "nsrl-legacy"),
        (b'{"odata.metadata": "x", "value": []}', "vics"),
        (b'{\n "@odata.context": "http://x/$metadata#Media", "value": []}', "vics"),
        (b'{"@odata.context": "https://caid.police.uk/$metadata#Media", "value": []}', "caid"),
        (b"%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n", "hashdeep"),
        (b"d41d8cd98f00b204e9800998ecf8427e  /a b.jpg\n", "md5deep"),
        (b"name,Sha256\n", "csv"),
        (b"# list\n\nd41d8cd98f00b204e9800998ecf8427e\n", "plain"),
        (("f" * 64 + ",100\n").encode(), "pdq"),
        (b"hello world\n", None),
        (b'{"something": "else"}', None),
        (b"", None),
    ],
)
def test_detection_from_the_first_bytes(head: bytes, expected: str | None) -> None:
    assert detect(head) == expected


def test_a_file_of_no_format_and_an_unknown_format_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("dear diary\n")
    with pytest.raises(FormatError):
        _read(path)
    with pytest.raises(ValueError, match="unknown format"):
        _read(path, "excel")
    assert "nsrl-rds" in FORMATS


def test_the_format_given_overrides_detection(tmp_path: Path) -> None:
    path = build.plain(tmp_path, ROWS)
    format_, entries, malformed, _, _ = _read(path, "md5deep")
    assert format_ == "md5deep"
    assert entries == []
    assert len(malformed) == len(ROWS)
