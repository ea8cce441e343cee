from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchFacesRequest(_message.Message):
    __slots__ = ("job_id", "face_id", "reference_photo", "everywhere", "top", "choose", "below_threshold")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PHOTO_FIELD_NUMBER: _ClassVar[int]
    EVERYWHERE_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    CHOOSE_FIELD_NUMBER: _ClassVar[int]
    BELOW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    face_id: int
    reference_photo: bytes
    everywhere: bool
    top: int
    choose: int
    below_threshold: bool
    def __init__(self, job_id: _Optional[int] = ..., face_id: _Optional[int] = ..., reference_photo: _Optional[bytes] = ..., everywhere: _Optional[bool] = ..., top: _Optional[int] = ..., choose: _Optional[int] = ..., below_threshold: _Optional[bool] = ...) -> None: ...

class FaceMatch(_message.Message):
    __slots__ = ("face_id", "image_id", "job_id", "similarity", "same_person")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SAME_PERSON_FIELD_NUMBER: _ClassVar[int]
    face_id: int
    image_id: int
    job_id: int
    similarity: float
    same_person: bool
    def __init__(self, face_id: _Optional[int] = ..., image_id: _Optional[int] = ..., job_id: _Optional[int] = ..., similarity: _Optional[float] = ..., same_person: _Optional[bool] = ...) -> None: ...

class ReferenceFace(_message.Message):
    __slots__ = ("number", "x", "y", "width", "height", "crop")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    number: int
    x: float
    y: float
    width: float
    height: float
    crop: bytes
    def __init__(self, number: _Optional[int] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ..., crop: _Optional[bytes] = ...) -> None: ...

class SearchFacesResponse(_message.Message):
    __slots__ = ("matches", "faces")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[FaceMatch]
    faces: _containers.RepeatedCompositeFieldContainer[ReferenceFace]
    def __init__(self, matches: _Optional[_Iterable[_Union[FaceMatch, _Mapping]]] = ..., faces: _Optional[_Iterable[_Union[ReferenceFace, _Mapping]]] = ...) -> None: ...
