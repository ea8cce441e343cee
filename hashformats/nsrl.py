"""NSRL RDS v3: the SQLite database NIST publishes (https://www.nist.gov/itl/ssd/software-quality-group/
national-software-reference-library-nsrl/nsrl-download/current-rds). Its `FILE` table holds one row per file of a
package (`sha256, sha1, md5, crc32, file_name, file_size, package_id`), the same hashes once per name and package
they appear under; `VERSION` names the release (`version, build_set, build_date, release_date, description`).

The database is opened read-only and its rows read with a cursor, each distinct (sha256, sha1, md5) once: NIST's
`DISTINCT_HASH` view where the database has it, else `SELECT DISTINCT` over `FILE` (SQLite sorts on disk, not in
memory). Each of the three hashes is an entry."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from hashformats.base import Entry, FormatError, Item, Malformed, Source, digest_algorithm

_ALGORITHMS = ("sha256", "sha1", "md5")


def _connect(path: Path) -> sqlite3.Connection:
    # immutable: no lock or journal is looked for or written beside a file that may be on read-only media.
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)


def read_nsrl_rds(path: Path, source: Source) -> Iterator[Item]:
    connection = _connect(path)
    try:
        names = {row[0].upper() for row in connection.execute("SELECT name FROM sqlite_master")}
        if "FILE" not in names:
            raise FormatError("a SQLite database without NSRL's FILE table")
        if "VERSION" in names:
            row = connection.execute("SELECT * FROM VERSION LIMIT 1").fetchone()
            if row:
                source.version = " ".join(str(value) for value in row[:2] if value)[:100]
        table = "DISTINCT_HASH" if "DISTINCT_HASH" in names else "FILE"
        # Fixed names only (the FILE table or NIST's view of it): nothing of the file's text is in the statement.
        cursor = connection.execute(f"SELECT DISTINCT sha256, sha1, md5 FROM {table}")  # noqa: S608
        for number, row in enumerate(cursor, start=1):
            for algorithm, value in zip(_ALGORITHMS, row, strict=True):
                if value is None or value == "":
                    continue
                checked = digest_algorithm(value, expected=algorithm) if isinstance(value, str) else "not text"
                if isinstance(checked, str):
                    yield Malformed(number, f"{algorithm.upper()}: {checked}")
                else:
                    yield Entry(*checked)
    except sqlite3.DatabaseError as error:
        raise FormatError(f"the NSRL database cannot be read: {error}") from error
    finally:
        connection.close()
