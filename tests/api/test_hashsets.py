"""HashSetService: staff import a hash list by sending it, list, enable, disable and delete sets; anyone else gets
PERMISSION_DENIED, audited."""

from __future__ import annotations

import grpc
import pytest

from audit.models import AuditEvent
from hashsets.models import HashEntry, HashSet
from imagescanner.v1 import hashsets_pb2 as pb
from tests.support import hashsets as build
from tests.support.grpc import rpc_error

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROWS = build.digests(30)


def _chunks(data: bytes, first: pb.ImportHashSetRequest, size: int = 100):
    yield first
    for start in range(0, len(data), size):
        yield pb.ImportHashSetRequest(chunk=data[start : start + size])


def test_staff_import_list_disable_enable_delete(operator, tmp_path) -> None:
    path = build.vics(tmp_path, ROWS, version="1", bad=[{"MediaID": 99, "MD5": "zz"}])
    first = pb.ImportHashSetRequest(name="VIC", kind="known-bad", category="1", file_name="/their/disk/vics.json")
    reply = operator.hashsets.ImportHashSet(_chunks(path.read_bytes(), first))
    assert (reply.hash_set.name, reply.hash_set.status, reply.hash_set.source_format) == ("VIC", "ready", "vics")
    assert (reply.hash_set.entries, reply.hash_set.malformed, reply.hash_set.version) == (60, 1, "1.3")
    assert reply.hash_set.source_name == "vics.json"
    assert [(m.reason) for m in reply.malformed_lines] == ["MD5: not a hexadecimal hash"]
    assert HashEntry.objects.filter(hash_set_id=reply.hash_set.id).count() == 60
    listed = operator.hashsets.ListHashSets(pb.ListHashSetsRequest()).hash_sets
    assert [(s.name, s.source_sha256) for s in listed] == [("VIC", HashSet.objects.get().source_sha256)]
    assert not operator.hashsets.DisableHashSet(pb.HashSetName(name="VIC")).enabled
    assert operator.hashsets.EnableHashSet(pb.HashSetName(name="VIC")).enabled
    operator.hashsets.DeleteHashSet(pb.HashSetName(name="VIC"))
    assert not HashSet.objects.exists()
    events = list(
        AuditEvent.objects.filter(action__startswith="hashset.").order_by("pk").values_list("action", "via", "outcome")
    )
    actions = ("hashset.import", "hashset.disable", "hashset.enable", "hashset.delete")
    assert events == [(a, "grpc", "ok") for a in actions]


def test_refused_imports_leave_nothing_and_are_recorded_once(operator, tmp_path) -> None:
    data = build.plain(tmp_path, ROWS).read_bytes()
    operator.hashsets.ImportHashSet(_chunks(data, pb.ImportHashSetRequest(name="Own", kind="alert")))
    error = rpc_error(operator.hashsets.ImportHashSet, _chunks(data, pb.ImportHashSetRequest(name="Own", kind="alert")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "a hash set named 'Own' exists" in error.details()
    error = rpc_error(
        operator.hashsets.ImportHashSet,
        _chunks(b"dear diary\n", pb.ImportHashSetRequest(name="N", kind="alert", file_name="d.txt")),
    )
    assert "d.txt: not a hash list" in error.details()
    assert rpc_error(operator.hashsets.ImportHashSet, iter([])).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_error(operator.hashsets.EnableHashSet, pb.HashSetName(name="Nope")).code() == grpc.StatusCode.NOT_FOUND
    assert list(HashSet.objects.values_list("name", flat=True)) == ["Own"]
    refused = list(AuditEvent.objects.filter(outcome="refused").order_by("pk").values_list("action", flat=True))
    assert refused == ["hashset.import"] * 3 + ["hashset.enable"]


def test_anyone_but_staff_is_denied_and_recorded(alice, operator, tmp_path) -> None:
    data = build.plain(tmp_path, ROWS).read_bytes()
    operator.hashsets.ImportHashSet(_chunks(data, pb.ImportHashSetRequest(name="Own", kind="alert")))
    calls = [
        (alice.hashsets.ListHashSets, pb.ListHashSetsRequest()),
        (alice.hashsets.ImportHashSet, _chunks(data, pb.ImportHashSetRequest(name="Mine", kind="alert"))),
        (alice.hashsets.DisableHashSet, pb.HashSetName(name="Own")),
        (alice.hashsets.EnableHashSet, pb.HashSetName(name="Own")),
        (alice.hashsets.DeleteHashSet, pb.HashSetName(name="Own")),
    ]
    for call, request in calls:
        assert rpc_error(call, request).code() == grpc.StatusCode.PERMISSION_DENIED
    assert list(HashSet.objects.values_list("name", "enabled")) == [("Own", True)]
    refused = AuditEvent.objects.filter(outcome="refused", user_id=alice.user.pk).order_by("pk")
    assert list(refused.values_list("action", flat=True)) == [
        "api.ListHashSets", "hashset.import", "hashset.disable", "hashset.enable", "hashset.delete"
    ]  # fmt: skip
