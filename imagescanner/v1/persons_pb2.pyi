import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from imagescanner.v1 import cases_pb2 as _cases_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Person(_message.Message):
    __slots__ = ("id", "name", "faces", "representative_face_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_FACE_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    faces: int
    representative_face_id: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., faces: _Optional[int] = ..., representative_face_id: _Optional[int] = ...) -> None: ...

class ListPersonsRequest(_message.Message):
    __slots__ = ("case",)
    CASE_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ...) -> None: ...

class ListPersonsResponse(_message.Message):
    __slots__ = ("persons",)
    PERSONS_FIELD_NUMBER: _ClassVar[int]
    persons: _containers.RepeatedCompositeFieldContainer[Person]
    def __init__(self, persons: _Optional[_Iterable[_Union[Person, _Mapping]]] = ...) -> None: ...

class GetPersonRequest(_message.Message):
    __slots__ = ("case", "person_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    person_id: int
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., person_id: _Optional[int] = ...) -> None: ...

class PersonFace(_message.Message):
    __slots__ = ("face_id", "sha256", "how")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    HOW_FIELD_NUMBER: _ClassVar[int]
    face_id: int
    sha256: str
    how: str
    def __init__(self, face_id: _Optional[int] = ..., sha256: _Optional[str] = ..., how: _Optional[str] = ...) -> None: ...

class PersonChange(_message.Message):
    __slots__ = ("action", "detail", "faces", "user", "time")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    action: str
    detail: str
    faces: int
    user: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, action: _Optional[str] = ..., detail: _Optional[str] = ..., faces: _Optional[int] = ..., user: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPersonResponse(_message.Message):
    __slots__ = ("person", "faces", "history")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    person: Person
    faces: _containers.RepeatedCompositeFieldContainer[PersonFace]
    history: _containers.RepeatedCompositeFieldContainer[PersonChange]
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[PersonFace, _Mapping]]] = ..., history: _Optional[_Iterable[_Union[PersonChange, _Mapping]]] = ...) -> None: ...

class NamePersonRequest(_message.Message):
    __slots__ = ("case", "person_id", "name")
    CASE_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    person_id: int
    name: str
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., person_id: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class MergePersonsRequest(_message.Message):
    __slots__ = ("case", "into_id", "other_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    INTO_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_ID_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    into_id: int
    other_id: int
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., into_id: _Optional[int] = ..., other_id: _Optional[int] = ...) -> None: ...
