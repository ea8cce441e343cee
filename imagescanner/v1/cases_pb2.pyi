import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_ROLE_UNSPECIFIED: _ClassVar[CaseRole]
    CASE_ROLE_LEAD: _ClassVar[CaseRole]
    CASE_ROLE_EXAMINER: _ClassVar[CaseRole]
    CASE_ROLE_REVIEWER: _ClassVar[CaseRole]
CASE_ROLE_UNSPECIFIED: CaseRole
CASE_ROLE_LEAD: CaseRole
CASE_ROLE_EXAMINER: CaseRole
CASE_ROLE_REVIEWER: CaseRole

class CaseKey(_message.Message):
    __slots__ = ("id", "reference")
    ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    id: int
    reference: str
    def __init__(self, id: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("code", "label", "key", "needs_confirmation", "sensitive", "clears")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEEDS_CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    CLEARS_FIELD_NUMBER: _ClassVar[int]
    code: str
    label: str
    key: str
    needs_confirmation: bool
    sensitive: bool
    clears: bool
    def __init__(self, code: _Optional[str] = ..., label: _Optional[str] = ..., key: _Optional[str] = ..., needs_confirmation: _Optional[bool] = ..., sensitive: _Optional[bool] = ..., clears: _Optional[bool] = ...) -> None: ...

class CaseMember(_message.Message):
    __slots__ = ("user_id", "email", "username", "role")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    email: str
    username: str
    role: CaseRole
    def __init__(self, user_id: _Optional[int] = ..., email: _Optional[str] = ..., username: _Optional[str] = ..., role: _Optional[_Union[CaseRole, str]] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("id", "reference", "title", "description", "owner_email", "scheme", "create_time", "role", "categories", "members", "job_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    id: int
    reference: str
    title: str
    description: str
    owner_email: str
    scheme: str
    create_time: _timestamp_pb2.Timestamp
    role: CaseRole
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    members: _containers.RepeatedCompositeFieldContainer[CaseMember]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[int] = ..., reference: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., owner_email: _Optional[str] = ..., scheme: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[_Union[CaseRole, str]] = ..., categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ..., members: _Optional[_Iterable[_Union[CaseMember, _Mapping]]] = ..., job_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ListCasesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCasesResponse(_message.Message):
    __slots__ = ("cases",)
    CASES_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[Case]
    def __init__(self, cases: _Optional[_Iterable[_Union[Case, _Mapping]]] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("case",)
    CASE_FIELD_NUMBER: _ClassVar[int]
    case: CaseKey
    def __init__(self, case: _Optional[_Union[CaseKey, _Mapping]] = ...) -> None: ...

class CreateCaseRequest(_message.Message):
    __slots__ = ("reference", "title", "description", "scheme")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    reference: str
    title: str
    description: str
    scheme: str
    def __init__(self, reference: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., scheme: _Optional[str] = ...) -> None: ...

class SetCaseMemberRequest(_message.Message):
    __slots__ = ("case", "email", "user_id", "role")
    CASE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    case: CaseKey
    email: str
    user_id: int
    role: CaseRole
    def __init__(self, case: _Optional[_Union[CaseKey, _Mapping]] = ..., email: _Optional[str] = ..., user_id: _Optional[int] = ..., role: _Optional[_Union[CaseRole, str]] = ...) -> None: ...

class RemoveCaseMemberRequest(_message.Message):
    __slots__ = ("case", "user_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    case: CaseKey
    user_id: int
    def __init__(self, case: _Optional[_Union[CaseKey, _Mapping]] = ..., user_id: _Optional[int] = ...) -> None: ...
