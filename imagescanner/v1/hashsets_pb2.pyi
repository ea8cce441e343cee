import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HashSet(_message.Message):
    __slots__ = ("id", "name", "kind", "category", "enabled", "status", "source_name", "source_sha256", "source_format", "version", "entries", "malformed", "imported_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    kind: str
    category: str
    enabled: bool
    status: str
    source_name: str
    source_sha256: str
    source_format: str
    version: str
    entries: int
    malformed: int
    imported_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., category: _Optional[str] = ..., enabled: _Optional[bool] = ..., status: _Optional[str] = ..., source_name: _Optional[str] = ..., source_sha256: _Optional[str] = ..., source_format: _Optional[str] = ..., version: _Optional[str] = ..., entries: _Optional[int] = ..., malformed: _Optional[int] = ..., imported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListHashSetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHashSetsResponse(_message.Message):
    __slots__ = ("hash_sets",)
    HASH_SETS_FIELD_NUMBER: _ClassVar[int]
    hash_sets: _containers.RepeatedCompositeFieldContainer[HashSet]
    def __init__(self, hash_sets: _Optional[_Iterable[_Union[HashSet, _Mapping]]] = ...) -> None: ...

class ImportHashSetRequest(_message.Message):
    __slots__ = ("name", "kind", "category", "format", "file_name", "chunk")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    category: str
    format: str
    file_name: str
    chunk: bytes
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., category: _Optional[str] = ..., format: _Optional[str] = ..., file_name: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class MalformedLine(_message.Message):
    __slots__ = ("line", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    reason: str
    def __init__(self, line: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportHashSetResponse(_message.Message):
    __slots__ = ("hash_set", "malformed_lines")
    HASH_SET_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_LINES_FIELD_NUMBER: _ClassVar[int]
    hash_set: HashSet
    malformed_lines: _containers.RepeatedCompositeFieldContainer[MalformedLine]
    def __init__(self, hash_set: _Optional[_Union[HashSet, _Mapping]] = ..., malformed_lines: _Optional[_Iterable[_Union[MalformedLine, _Mapping]]] = ...) -> None: ...

class HashSetName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteHashSetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
