import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerificationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_STATUS_UNSPECIFIED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_QUEUED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_RUNNING: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_DONE: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_FAILED: _ClassVar[VerificationStatus]

class VerificationOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_OUTCOME_UNSPECIFIED: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_CHANGED_HASH: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_CHANGED_METADATA: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_MISSING: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_NEW: _ClassVar[VerificationOutcome]
    VERIFICATION_OUTCOME_UNREADABLE: _ClassVar[VerificationOutcome]
VERIFICATION_STATUS_UNSPECIFIED: VerificationStatus
VERIFICATION_STATUS_QUEUED: VerificationStatus
VERIFICATION_STATUS_RUNNING: VerificationStatus
VERIFICATION_STATUS_DONE: VerificationStatus
VERIFICATION_STATUS_FAILED: VerificationStatus
VERIFICATION_OUTCOME_UNSPECIFIED: VerificationOutcome
VERIFICATION_OUTCOME_CHANGED_HASH: VerificationOutcome
VERIFICATION_OUTCOME_CHANGED_METADATA: VerificationOutcome
VERIFICATION_OUTCOME_MISSING: VerificationOutcome
VERIFICATION_OUTCOME_NEW: VerificationOutcome
VERIFICATION_OUTCOME_UNREADABLE: VerificationOutcome

class StartVerificationRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class GetVerificationRequest(_message.Message):
    __slots__ = ("verification_id", "page_size", "after_file_id")
    VERIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    verification_id: int
    page_size: int
    after_file_id: int
    def __init__(self, verification_id: _Optional[int] = ..., page_size: _Optional[int] = ..., after_file_id: _Optional[int] = ...) -> None: ...

class VerificationFile(_message.Message):
    __slots__ = ("id", "path", "path_bytes", "outcome", "detail", "expected_sha256", "actual_sha256", "expected_size", "actual_size", "expected_mtime", "actual_mtime", "expected_mode", "actual_mode")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PATH_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHA256_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MTIME_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_MTIME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MODE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_MODE_FIELD_NUMBER: _ClassVar[int]
    id: int
    path: str
    path_bytes: bytes
    outcome: VerificationOutcome
    detail: str
    expected_sha256: str
    actual_sha256: str
    expected_size: int
    actual_size: int
    expected_mtime: _timestamp_pb2.Timestamp
    actual_mtime: _timestamp_pb2.Timestamp
    expected_mode: int
    actual_mode: int
    def __init__(self, id: _Optional[int] = ..., path: _Optional[str] = ..., path_bytes: _Optional[bytes] = ..., outcome: _Optional[_Union[VerificationOutcome, str]] = ..., detail: _Optional[str] = ..., expected_sha256: _Optional[str] = ..., actual_sha256: _Optional[str] = ..., expected_size: _Optional[int] = ..., actual_size: _Optional[int] = ..., expected_mtime: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actual_mtime: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expected_mode: _Optional[int] = ..., actual_mode: _Optional[int] = ...) -> None: ...

class Verification(_message.Message):
    __slots__ = ("id", "job_id", "status", "error", "started_by", "via", "create_time", "start_time", "finish_time", "compared", "expected", "checked", "verified", "changed_hash", "changed_metadata", "missing", "new", "unreadable", "files", "next_after_file_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_HASH_FIELD_NUMBER: _ClassVar[int]
    CHANGED_METADATA_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    UNREADABLE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    job_id: int
    status: VerificationStatus
    error: str
    started_by: str
    via: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    compared: _containers.RepeatedScalarFieldContainer[str]
    expected: int
    checked: int
    verified: int
    changed_hash: int
    changed_metadata: int
    missing: int
    new: int
    unreadable: int
    files: _containers.RepeatedCompositeFieldContainer[VerificationFile]
    next_after_file_id: int
    def __init__(self, id: _Optional[int] = ..., job_id: _Optional[int] = ..., status: _Optional[_Union[VerificationStatus, str]] = ..., error: _Optional[str] = ..., started_by: _Optional[str] = ..., via: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compared: _Optional[_Iterable[str]] = ..., expected: _Optional[int] = ..., checked: _Optional[int] = ..., verified: _Optional[int] = ..., changed_hash: _Optional[int] = ..., changed_metadata: _Optional[int] = ..., missing: _Optional[int] = ..., new: _Optional[int] = ..., unreadable: _Optional[int] = ..., files: _Optional[_Iterable[_Union[VerificationFile, _Mapping]]] = ..., next_after_file_id: _Optional[int] = ...) -> None: ...
