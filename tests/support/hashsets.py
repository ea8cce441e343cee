"""Hash lists of every format a lab imports, written to files for the tests: each builder takes the digests (and
what else the format holds) and a folder, and returns the file's path. Digests come from `digests`, so a test
knows what an import must hold."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path


def digests(n: int, salt: str = "") -> list[tuple[str, str, str]]:
    """`n` distinct (md5, sha1, sha256) triples, as hex of made-up content."""
    out = []
    for i in range(n):
        content = f"{salt}file-{i}".encode()
        out.append(
            (hashlib.md5(content).hexdigest(), hashlib.sha1(content).hexdigest(), hashlib.sha256(content).hexdigest())
        )
    return out


def nsrl_rds(folder: Path, rows: list[tuple[str, str, str]], *, version: str = "2024.12.1", bad: int = 0) -> Path:
    """An NSRL RDS v3 database (its FILE, PKG and VERSION tables, as NIST's minimal schema has them): every row
    twice under two names (NSRL lists a file once per name and package), `bad` rows with a broken MD5 at the end."""
    path = folder / "RDS_modern_minimal.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE VERSION (version VARCHAR UNIQUE NOT NULL, build_set VARCHAR NOT NULL,
            build_date TIMESTAMP NOT NULL, release_date TIMESTAMP NOT NULL, description VARCHAR NOT NULL);
        CREATE TABLE PKG (package_id INTEGER NOT NULL, name VARCHAR NOT NULL);
        CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL,
            crc32 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL,
            package_id INTEGER NOT NULL);
        """
    )
    db.execute("INSERT INTO VERSION VALUES (?, 'modern', '2024-12-01', '2024-12-02', 'RDS modern minimal')", (version,))
    for i, (md5, sha1, sha256) in enumerate(rows):
        for name in (f"file{i}.dll", f"copy{i}.dll"):
            db.execute(
                "INSERT INTO FILE VALUES (?, ?, ?, '00000000', ?, 10, 1)",
                (sha256.upper(), sha1.upper(), md5.upper(), name),
            )
    for i in range(bad):
        db.execute("INSERT INTO FILE VALUES (?, ?, 'xyz', '0', 'bad', 1, 1)", (f"{i:064x}", f"{i:040x}"))
    db.commit()
    db.close()
    return path


def nsrl_legacy(folder: Path, rows: list[tuple[str, str, str]], *, extra_lines: list[str] = ()) -> Path:
    path = folder / "NSRLFile.txt"
    lines = ['"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode","SpecialCode"']
    lines += [
        f'"{sha1.upper()}","{md5.upper()}","0A1B2C3D","file, {i}.dll",1024,{i},"WIN",""'
        for i, (md5, sha1, _) in enumerate(rows)
    ]
    path.write_text("\r\n".join([*lines, *extra_lines]) + "\r\n")
    return path


def _medium(i: int, md5: str, sha1: str, category: int) -> dict:
    return {
        "MediaID": i + 1,
        "Category": category,
        "MD5": md5.upper(),
        "SHA1": sha1.upper(),
        "MediaSize": 2835 + i,
        "PhotoDNA": "AAAB" * 36,
        "DateUpdated": "2023-06-07T02:31:49.83Z",
        "IsPrecategorized": "false",
    }


def vics(
    folder: Path,
    rows: list[tuple[str, str, str]],
    *,
    version: str,
    bad: list[dict] = (),
    name: str = "vics.json",
    context: str = "",
) -> Path:
    """Project VIC JSON: version "1" (odata.metadata, the media under value[0].Media, one case) or "2"
    (@odata.context, the media under value); media in `bad` are written after the good ones. Written indented,
    one member a line, as exports are."""
    media = [_medium(i, md5, sha1, 1 + i % 3) for i, (md5, sha1, _) in enumerate(rows)] + list(bad)
    if version == "1":
        document = {
            "odata.metadata": context or "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/$metadata#Cases",
            "value": [{"CaseID": "1", "CaseNumber": "2024-017", "Version": "1.3", "Media": media}],
        }
    else:
        document = {
            "@odata.context": context
            or "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media",
            "value": media,
        }
    path = folder / name
    path.write_text(json.dumps(document, indent=1))
    return path


def caid(folder: Path, rows: list[tuple[str, str, str]], *, bad: list[dict] = ()) -> Path:
    """A CAID export: the VICS data model under a CAID odata context, categories the UK's (1-3 for A-C)."""
    return vics(
        folder,
        rows,
        version="2",
        bad=bad,
        name="caid.json",
        context="https://caid.police.uk/ProjectVic/DataModels/2.0.xml/CAID/$metadata#Media",
    )


def hashdeep(folder: Path, rows: list[tuple[str, str, str]], *, extra_lines: list[str] = ()) -> Path:
    path = folder / "hashdeep.txt"
    lines = [
        "%%%% HASHDEEP-1.0",
        "%%%% size,md5,sha256,filename",
        "## Invoked from: /evidence",
        "## $ hashdeep -r .",
        "##",
    ]
    lines += [f"{100 + i},{md5},{sha256},/evidence/a, b/{i}.jpg" for i, (md5, _, sha256) in enumerate(rows)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def md5deep(folder: Path, rows: list[tuple[str, str, str]], *, extra_lines: list[str] = ()) -> Path:
    path = folder / "md5deep.txt"
    lines = [f"{md5}  /evidence/photo {i}.jpg" for i, (md5, _, _) in enumerate(rows)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def csv_list(folder: Path, rows: list[tuple[str, str, str]], *, extra_lines: list[str] = ()) -> Path:
    path = folder / "hashes.csv"
    lines = ["File Name,MD5,SHA-1,Category"]
    lines += [f'"photo, {i}.jpg",{md5.upper()},{sha1},{1 + i % 2}' for i, (md5, sha1, _) in enumerate(rows)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def plain(folder: Path, rows: list[tuple[str, str, str]], *, extra_lines: list[str] = ()) -> Path:
    """One hash a line: MD5, SHA-1 and SHA-256 in turn (row i gives its hash number i % 3)."""
    path = folder / "plain.txt"
    lines = ["# a lab's own list"] + [row[i % 3] for i, row in enumerate(rows)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


def pdq(folder: Path, hashes: list[tuple[str, int]], *, extra_lines: list[str] = ()) -> Path:
    path = folder / "pdq.txt"
    path.write_text("\n".join([f"{digest},{quality}" for digest, quality in hashes] + list(extra_lines)) + "\n")
    return path


def huge_line(size: int = 10 * 1024 * 1024) -> str:
    return "A" * size
