import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from imagescanner.v1 import cases_pb2 as _cases_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CategoryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_STATUS_UNSPECIFIED: _ClassVar[CategoryStatus]
    CATEGORY_STATUS_SET: _ClassVar[CategoryStatus]
    CATEGORY_STATUS_PROPOSED: _ClassVar[CategoryStatus]
    CATEGORY_STATUS_CONFIRMED: _ClassVar[CategoryStatus]
CATEGORY_STATUS_UNSPECIFIED: CategoryStatus
CATEGORY_STATUS_SET: CategoryStatus
CATEGORY_STATUS_PROPOSED: CategoryStatus
CATEGORY_STATUS_CONFIRMED: CategoryStatus

class ImageSelection(_message.Message):
    __slots__ = ("sha256", "image_ids")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    IMAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    image_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ..., image_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ("case",)
    CASE_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("scheme", "categories")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    categories: _containers.RepeatedCompositeFieldContainer[_cases_pb2.Category]
    def __init__(self, scheme: _Optional[str] = ..., categories: _Optional[_Iterable[_Union[_cases_pb2.Category, _Mapping]]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("image_id", "sha256", "category", "status", "set_by", "confirmed_by", "disputed", "bookmarks", "bookmarked", "notes", "reviewed")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    BOOKMARKS_FIELD_NUMBER: _ClassVar[int]
    BOOKMARKED_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_FIELD_NUMBER: _ClassVar[int]
    image_id: int
    sha256: str
    category: str
    status: CategoryStatus
    set_by: str
    confirmed_by: str
    disputed: bool
    bookmarks: int
    bookmarked: bool
    notes: int
    reviewed: bool
    def __init__(self, image_id: _Optional[int] = ..., sha256: _Optional[str] = ..., category: _Optional[str] = ..., status: _Optional[_Union[CategoryStatus, str]] = ..., set_by: _Optional[str] = ..., confirmed_by: _Optional[str] = ..., disputed: _Optional[bool] = ..., bookmarks: _Optional[int] = ..., bookmarked: _Optional[bool] = ..., notes: _Optional[int] = ..., reviewed: _Optional[bool] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("case", "images", "decided_only", "page_size", "page_token")
    CASE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DECIDED_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    images: ImageSelection
    decided_only: bool
    page_size: int
    page_token: str
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., images: _Optional[_Union[ImageSelection, _Mapping]] = ..., decided_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetCategoryRequest(_message.Message):
    __slots__ = ("case", "category", "images")
    CASE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    category: str
    images: ImageSelection
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., category: _Optional[str] = ..., images: _Optional[_Union[ImageSelection, _Mapping]] = ...) -> None: ...

class ConfirmCategoryRequest(_message.Message):
    __slots__ = ("case", "images")
    CASE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    images: ImageSelection
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., images: _Optional[_Union[ImageSelection, _Mapping]] = ...) -> None: ...

class ReviewOutcome(_message.Message):
    __slots__ = ("changed", "proposed", "confirmed", "unchanged", "refused")
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    changed: int
    proposed: int
    confirmed: int
    unchanged: int
    refused: int
    def __init__(self, changed: _Optional[int] = ..., proposed: _Optional[int] = ..., confirmed: _Optional[int] = ..., unchanged: _Optional[int] = ..., refused: _Optional[int] = ...) -> None: ...

class GetCategoryHistoryRequest(_message.Message):
    __slots__ = ("case", "sha256", "image_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    case: _cases_pb2.CaseKey
    sha256: str
    image_id: int
    def __init__(self, case: _Optional[_Union[_cases_pb2.CaseKey, _Mapping]] = ..., sha256: _Optional[str] = ..., image_id: _Optional[int] = ...) -> None: ...

class CategoryChange(_message.Message):
    __slots__ = ("action", "before", "before_status", "after", "after_status", "user", "time")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    BEFORE_STATUS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_STATUS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    action: str
    before: str
    before_status: str
    after: str
    after_status: str
    user: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, action: _Optional[str] = ..., before: _Optional[str] = ..., before_status: _Optional[str] = ..., after: _Optional[str] = ..., after_status: _Optional[str] = ..., user: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCategoryHistoryResponse(_message.Message):
    __slots__ = ("image_id", "sha256", "changes")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    image_id: int
    sha256: str
    changes: _containers.RepeatedCompositeFieldContainer[CategoryChange]
    def __init__(self, image_id: _Optional[int] = ..., sha256: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[CategoryChange, _Mapping]]] = ...) -> None: ...
