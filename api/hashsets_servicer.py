"""HashSetService: an adapter from gRPC to the hash-set library (hashsets.services, audited). Staff only.

A file to import is sent in the call (never named as a path on the server: a client could name any file the server
can read); it is written to a temporary file as it arrives, up to HASHSET_UPLOAD_MAX_BYTES, imported, and removed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
from django.conf import settings
from google.protobuf.timestamp_pb2 import Timestamp

from api.auth import current_user
from api.errors import ApiError
from hashsets.models import HashSet
from hashsets.selectors import hash_set_by_name, hash_set_list
from hashsets.services import HashSetRefused, hash_set_delete, hash_set_enable, hash_set_import
from imagescanner.v1 import hashsets_pb2 as pb
from imagescanner.v1 import hashsets_pb2_grpc

# Malformed lines an import's response lists (all are counted in the set).
MALFORMED_SENT = 1000


def _staff():
    user = current_user()
    if not user.is_staff:
        raise ApiError(grpc.StatusCode.PERMISSION_DENIED, "the hash-set library is for staff")
    return user


def _message(hash_set: HashSet) -> pb.HashSet:
    message = pb.HashSet(
        id=hash_set.pk, name=hash_set.name, kind=hash_set.kind, category=hash_set.category, enabled=hash_set.enabled,
        status=hash_set.status, source_name=hash_set.source_name, source_sha256=hash_set.source_sha256,
        source_format=hash_set.source_format, version=hash_set.version, entries=hash_set.entries,
        malformed=hash_set.malformed,
    )  # fmt: skip
    if hash_set.imported_at:
        stamp = Timestamp()
        stamp.FromDatetime(hash_set.imported_at)
        message.imported_at.CopyFrom(stamp)
    return message


def _named(request: pb.HashSetName) -> HashSet:
    hash_set = None if "\x00" in request.name else hash_set_by_name(request.name)
    if hash_set is None:
        raise ApiError(grpc.StatusCode.NOT_FOUND, "no such hash set")
    return hash_set


def _received(requests: Iterator[pb.ImportHashSetRequest], path: Path) -> pb.ImportHashSetRequest:
    """Write the file's chunks to `path`; the first message (which names the set)."""
    first = None
    size, limit = 0, settings.HASHSET_UPLOAD_MAX_BYTES
    with path.open("wb") as out:
        for request in requests:
            first = first or request
            size += len(request.chunk)
            if size > limit:
                raise ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the file is larger than {limit} bytes")
            out.write(request.chunk)
    if first is None:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "no message: the first names the set")
    return first


class HashSetServicer(hashsets_pb2_grpc.HashSetServiceServicer):
    def ListHashSets(self, request, context) -> pb.ListHashSetsResponse:
        _staff()
        return pb.ListHashSetsResponse(hash_sets=[_message(s) for s in hash_set_list()])

    def ImportHashSet(self, request_iterator, context) -> pb.ImportHashSetResponse:
        user = _staff()
        handle, name = tempfile.mkstemp(prefix="hashset-")
        os.close(handle)
        path = Path(name)
        try:
            first = _received(request_iterator, path)
            report = hash_set_import(
                path=path, name=first.name, kind=first.kind, category=first.category, user=user,
                format=first.format or None, source_name=os.path.basename(first.file_name) or "upload",
            )  # fmt: skip
        except HashSetRefused as refused:  # in the audit log already
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(refused), recorded=True) from None
        finally:
            path.unlink(missing_ok=True)
        return pb.ImportHashSetResponse(
            hash_set=_message(report.hash_set),
            malformed_lines=[
                pb.MalformedLine(line=m.line, reason=m.reason) for m in report.malformed_lines[:MALFORMED_SENT]
            ],
        )

    def EnableHashSet(self, request, context) -> pb.HashSet:
        _staff()
        return _message(hash_set_enable(hash_set=_named(request), enabled=True))

    def DisableHashSet(self, request, context) -> pb.HashSet:
        _staff()
        return _message(hash_set_enable(hash_set=_named(request), enabled=False))

    def DeleteHashSet(self, request, context) -> pb.DeleteHashSetResponse:
        _staff()
        hash_set_delete(hash_set=_named(request))
        return pb.DeleteHashSetResponse()
