import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_CREATED: _ClassVar[JobStatus]
    JOB_STATUS_QUEUED: _ClassVar[JobStatus]
    JOB_STATUS_SCANNING: _ClassVar[JobStatus]
    JOB_STATUS_EXTRACTING: _ClassVar[JobStatus]
    JOB_STATUS_COMPLETED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]

class JobOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_ORDER_UNSPECIFIED: _ClassVar[JobOrder]
    JOB_ORDER_NEWEST_FIRST: _ClassVar[JobOrder]
    JOB_ORDER_OLDEST_FIRST: _ClassVar[JobOrder]
    JOB_ORDER_NAME: _ClassVar[JobOrder]

class ImageOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_ORDER_UNSPECIFIED: _ClassVar[ImageOrder]
    IMAGE_ORDER_PATH: _ClassVar[ImageOrder]
    IMAGE_ORDER_SIZE: _ClassVar[ImageOrder]
    IMAGE_ORDER_TAKEN: _ClassVar[ImageOrder]
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_CREATED: JobStatus
JOB_STATUS_QUEUED: JobStatus
JOB_STATUS_SCANNING: JobStatus
JOB_STATUS_EXTRACTING: JobStatus
JOB_STATUS_COMPLETED: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
JOB_ORDER_UNSPECIFIED: JobOrder
JOB_ORDER_NEWEST_FIRST: JobOrder
JOB_ORDER_OLDEST_FIRST: JobOrder
JOB_ORDER_NAME: JobOrder
IMAGE_ORDER_UNSPECIFIED: ImageOrder
IMAGE_ORDER_PATH: ImageOrder
IMAGE_ORDER_SIZE: ImageOrder
IMAGE_ORDER_TAKEN: ImageOrder

class StageProgress(_message.Message):
    __slots__ = ("stage", "total", "done", "failed", "skipped", "unavailable", "reused", "message")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    total: int
    done: int
    failed: int
    skipped: int
    unavailable: int
    reused: int
    message: str
    def __init__(self, stage: _Optional[str] = ..., total: _Optional[int] = ..., done: _Optional[int] = ..., failed: _Optional[int] = ..., skipped: _Optional[int] = ..., unavailable: _Optional[int] = ..., reused: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "name", "description", "source", "owner_email", "status", "error", "files_seen", "images", "distinct_images", "skipped", "errors", "bytes_seen", "discovery_finished", "stages", "create_time", "start_time", "finish_time", "permissions", "rerun_of", "waiting")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OWNER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FILES_SEEN_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SEEN_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_FINISHED_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    RERUN_OF_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    description: str
    source: str
    owner_email: str
    status: JobStatus
    error: str
    files_seen: int
    images: int
    distinct_images: int
    skipped: int
    errors: int
    bytes_seen: int
    discovery_finished: bool
    stages: _containers.RepeatedCompositeFieldContainer[StageProgress]
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    permissions: _containers.RepeatedScalarFieldContainer[str]
    rerun_of: int
    waiting: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., owner_email: _Optional[str] = ..., status: _Optional[_Union[JobStatus, str]] = ..., error: _Optional[str] = ..., files_seen: _Optional[int] = ..., images: _Optional[int] = ..., distinct_images: _Optional[int] = ..., skipped: _Optional[int] = ..., errors: _Optional[int] = ..., bytes_seen: _Optional[int] = ..., discovery_finished: _Optional[bool] = ..., stages: _Optional[_Iterable[_Union[StageProgress, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., permissions: _Optional[_Iterable[str]] = ..., rerun_of: _Optional[int] = ..., waiting: _Optional[_Iterable[str]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "order")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    order: JobOrder
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order: _Optional[_Union[JobOrder, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListActiveJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActiveJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("name", "description", "source", "stages", "start", "case", "exhibit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    EXHIBIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    source: str
    stages: _containers.RepeatedScalarFieldContainer[str]
    start: bool
    case: str
    exhibit: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., stages: _Optional[_Iterable[str]] = ..., start: _Optional[bool] = ..., case: _Optional[str] = ..., exhibit: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class RerunJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ("images_removed",)
    IMAGES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    images_removed: int
    def __init__(self, images_removed: _Optional[int] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sources: _Optional[_Iterable[str]] = ...) -> None: ...

class StartScanRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class StartScanResponse(_message.Message):
    __slots__ = ("result", "job", "message")
    class Result(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESULT_UNSPECIFIED: _ClassVar[StartScanResponse.Result]
        STARTED: _ClassVar[StartScanResponse.Result]
        QUEUED: _ClassVar[StartScanResponse.Result]
        ALREADY_RUNNING: _ClassVar[StartScanResponse.Result]
        SOURCE_MISSING: _ClassVar[StartScanResponse.Result]
    RESULT_UNSPECIFIED: StartScanResponse.Result
    STARTED: StartScanResponse.Result
    QUEUED: StartScanResponse.Result
    ALREADY_RUNNING: StartScanResponse.Result
    SOURCE_MISSING: StartScanResponse.Result
    RESULT_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    result: StartScanResponse.Result
    job: Job
    message: str
    def __init__(self, result: _Optional[_Union[StartScanResponse.Result, str]] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class WatchJobProgressRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job_id", "status", "files_seen", "images", "distinct_images", "skipped", "errors", "bytes_seen", "current_path", "discovery_finished", "error", "stages")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILES_SEEN_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_IMAGES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SEEN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PATH_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_FINISHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    status: JobStatus
    files_seen: int
    images: int
    distinct_images: int
    skipped: int
    errors: int
    bytes_seen: int
    current_path: str
    discovery_finished: bool
    error: str
    stages: _containers.RepeatedCompositeFieldContainer[StageProgress]
    def __init__(self, job_id: _Optional[int] = ..., status: _Optional[_Union[JobStatus, str]] = ..., files_seen: _Optional[int] = ..., images: _Optional[int] = ..., distinct_images: _Optional[int] = ..., skipped: _Optional[int] = ..., errors: _Optional[int] = ..., bytes_seen: _Optional[int] = ..., current_path: _Optional[str] = ..., discovery_finished: _Optional[bool] = ..., error: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageProgress, _Mapping]]] = ...) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("job_id", "page_size", "page_token", "order", "include_exif_tags", "filter")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXIF_TAGS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    page_size: int
    page_token: str
    order: ImageOrder
    include_exif_tags: bool
    filter: ImageFilter
    def __init__(self, job_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order: _Optional[_Union[ImageOrder, str]] = ..., include_exif_tags: _Optional[bool] = ..., filter: _Optional[_Union[ImageFilter, _Mapping]] = ...) -> None: ...

class ImageFilter(_message.Message):
    __slots__ = ("gps", "faces", "tag", "stage_errors", "duplicates", "mime", "camera_make", "camera_model", "taken_from", "taken_to")
    GPS_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    STAGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    CAMERA_MAKE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_MODEL_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FROM_FIELD_NUMBER: _ClassVar[int]
    TAKEN_TO_FIELD_NUMBER: _ClassVar[int]
    gps: bool
    faces: bool
    tag: str
    stage_errors: bool
    duplicates: bool
    mime: str
    camera_make: str
    camera_model: str
    taken_from: str
    taken_to: str
    def __init__(self, gps: _Optional[bool] = ..., faces: _Optional[bool] = ..., tag: _Optional[str] = ..., stage_errors: _Optional[bool] = ..., duplicates: _Optional[bool] = ..., mime: _Optional[str] = ..., camera_make: _Optional[str] = ..., camera_model: _Optional[str] = ..., taken_from: _Optional[str] = ..., taken_to: _Optional[str] = ...) -> None: ...

class Exif(_message.Message):
    __slots__ = ("camera_make", "camera_model", "lens_model", "software", "datetime_original", "orientation", "gps_latitude", "gps_longitude", "gps_altitude", "gps_datetime", "tags_json")
    CAMERA_MAKE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_MODEL_FIELD_NUMBER: _ClassVar[int]
    LENS_MODEL_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    DATETIME_ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    ORIENTATION_FIELD_NUMBER: _ClassVar[int]
    GPS_LATITUDE_FIELD_NUMBER: _ClassVar[int]
    GPS_LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    GPS_ALTITUDE_FIELD_NUMBER: _ClassVar[int]
    GPS_DATETIME_FIELD_NUMBER: _ClassVar[int]
    TAGS_JSON_FIELD_NUMBER: _ClassVar[int]
    camera_make: str
    camera_model: str
    lens_model: str
    software: str
    datetime_original: str
    orientation: int
    gps_latitude: float
    gps_longitude: float
    gps_altitude: float
    gps_datetime: str
    tags_json: str
    def __init__(self, camera_make: _Optional[str] = ..., camera_model: _Optional[str] = ..., lens_model: _Optional[str] = ..., software: _Optional[str] = ..., datetime_original: _Optional[str] = ..., orientation: _Optional[int] = ..., gps_latitude: _Optional[float] = ..., gps_longitude: _Optional[float] = ..., gps_altitude: _Optional[float] = ..., gps_datetime: _Optional[str] = ..., tags_json: _Optional[str] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("index", "x", "y", "width", "height", "score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    x: float
    y: float
    width: float
    height: float
    score: float
    def __init__(self, index: _Optional[int] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ..., score: _Optional[float] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("label", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class StageResult(_message.Message):
    __slots__ = ("stage", "extractor_version", "status", "error", "model_name", "model_sha256")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    EXTRACTOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    stage: str
    extractor_version: str
    status: str
    error: str
    model_name: str
    model_sha256: str
    def __init__(self, stage: _Optional[str] = ..., extractor_version: _Optional[str] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., model_name: _Optional[str] = ..., model_sha256: _Optional[str] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("image_id", "file_id", "path", "instances", "sha256", "md5", "sha1", "size", "mime", "format", "width", "height", "raw_width", "raw_height", "mode", "bit_depth", "dpi_x", "dpi_y", "frames", "exif", "faces", "tags", "caption", "results")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MD5_FIELD_NUMBER: _ClassVar[int]
    SHA1_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RAW_WIDTH_FIELD_NUMBER: _ClassVar[int]
    RAW_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    DPI_X_FIELD_NUMBER: _ClassVar[int]
    DPI_Y_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    EXIF_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    image_id: int
    file_id: int
    path: str
    instances: int
    sha256: str
    md5: str
    sha1: str
    size: int
    mime: str
    format: str
    width: int
    height: int
    raw_width: int
    raw_height: int
    mode: str
    bit_depth: int
    dpi_x: float
    dpi_y: float
    frames: int
    exif: Exif
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    caption: str
    results: _containers.RepeatedCompositeFieldContainer[StageResult]
    def __init__(self, image_id: _Optional[int] = ..., file_id: _Optional[int] = ..., path: _Optional[str] = ..., instances: _Optional[int] = ..., sha256: _Optional[str] = ..., md5: _Optional[str] = ..., sha1: _Optional[str] = ..., size: _Optional[int] = ..., mime: _Optional[str] = ..., format: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., raw_width: _Optional[int] = ..., raw_height: _Optional[int] = ..., mode: _Optional[str] = ..., bit_depth: _Optional[int] = ..., dpi_x: _Optional[float] = ..., dpi_y: _Optional[float] = ..., frames: _Optional[int] = ..., exif: _Optional[_Union[Exif, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., caption: _Optional[str] = ..., results: _Optional[_Iterable[_Union[StageResult, _Mapping]]] = ...) -> None: ...

class ListImagesResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamFileRequest(_message.Message):
    __slots__ = ("file_id", "image_id", "job_id", "chunk_size")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    file_id: int
    image_id: int
    job_id: int
    chunk_size: int
    def __init__(self, file_id: _Optional[int] = ..., image_id: _Optional[int] = ..., job_id: _Optional[int] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class FileHeader(_message.Message):
    __slots__ = ("file_id", "image_id", "job_id", "path", "size", "mime", "sha256")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MIME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    file_id: int
    image_id: int
    job_id: int
    path: str
    size: int
    mime: str
    sha256: str
    def __init__(self, file_id: _Optional[int] = ..., image_id: _Optional[int] = ..., job_id: _Optional[int] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mime: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class FileTrailer(_message.Message):
    __slots__ = ("sha256", "size")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("header", "data", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: FileHeader
    data: bytes
    trailer: FileTrailer
    def __init__(self, header: _Optional[_Union[FileHeader, _Mapping]] = ..., data: _Optional[bytes] = ..., trailer: _Optional[_Union[FileTrailer, _Mapping]] = ...) -> None: ...
