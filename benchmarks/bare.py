"""The baseline the scanner is measured against: walk a tree and hash every file (MD5, SHA-1 and SHA-256 from one
read), nothing else. No Django, no typing, no database.

`python -m benchmarks.bare PATH` runs it once and prints one JSON line (files, bytes, seconds): run as a
subprocess, it also gives the peak RSS of a Python process doing only this.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Pass:
    files: int
    bytes: int
    seconds: float


def hash_tree(root: str) -> Pass:
    """Read and hash every regular file under `root`, in 1 MiB reads (a small file is a single read)."""
    files = total = 0
    started = time.perf_counter()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            md5 = hashlib.md5(usedforsecurity=False)
            sha1 = hashlib.sha1(usedforsecurity=False)
            sha256 = hashlib.sha256()
            with open(os.path.join(folder, name), "rb", buffering=0) as fp:
                while block := fp.read(CHUNK):
                    md5.update(block)
                    sha1.update(block)
                    sha256.update(block)
                    total += len(block)
            md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
            files += 1
    return Pass(files, total, time.perf_counter() - started)


if __name__ == "__main__":
    print(json.dumps(asdict(hash_tree(sys.argv[1]))))
