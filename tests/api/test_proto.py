"""The committed stubs are what `make proto` makes from proto/ now: a changed .proto without regenerated stubs
fails here."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

from tests.support.environment import REPO


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_committed_stubs_match_the_proto_files(tmp_path):
    protos = sorted(str(p.relative_to(REPO)) for p in (REPO / "proto").rglob("*.proto"))
    # The same arguments as PROTOC_ARGS in the Makefile, with another output folder; `python -m grpc_tools.protoc`
    # adds the well-known types (google/protobuf/*.proto) itself, protoc.main does not.
    out = str(tmp_path)
    well_known = files("grpc_tools") / "_proto"
    args = ["protoc", f"-I{REPO / 'proto'}", f"-I{well_known}", f"--python_out={out}", f"--pyi_out={out}"]
    args.append(f"--grpc_python_out={out}")
    assert protoc.main([*args, *(str(REPO / p) for p in protos)]) == 0
    made = _files(tmp_path / "imagescanner")
    assert made, "protoc made nothing"
    assert _files(REPO / "imagescanner") == made, "run `make proto` and commit the result"
