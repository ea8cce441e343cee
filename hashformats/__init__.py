"""Reading the hash lists a lab imports: NSRL (RDS v3 SQLite and the legacy `NSRLFile.txt`), Project VIC VICS JSON
(1.x and 2.0), CAID JSON, hashdeep and md5deep output, CSV with a header, plain lists and ThreatExchange PDQ lists.

No Django here: a reader takes an open binary file and yields `Entry` (a validated, lowercase digest) and
`Malformed` (a line number and a reason) items, reading the file as a stream: memory stays bounded whatever the
file's size. A malformed line never stops a reader; only a file that is not of the format at all raises
`FormatError`. The format is told from the file's first bytes (`detect`)."""

from hashformats.base import (
    ALGORITHMS,
    MAX_LINE,
    Entry,
    FormatError,
    HashingReader,
    Item,
    Malformed,
    Source,
    digest_algorithm,
)
from hashformats.detect import FORMATS, Reading, detect, read

__all__ = [
    "ALGORITHMS",
    "FORMATS",
    "MAX_LINE",
    "Entry",
    "FormatError",
    "HashingReader",
    "Item",
    "Malformed",
    "Reading",
    "Source",
    "detect",
    "digest_algorithm",
    "read",
]
