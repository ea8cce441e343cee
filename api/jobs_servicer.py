"""JobService: an adapter from gRPC to the job selectors and services, with the web app's permissions
(jobs.access.job_get_for_user). Files are chosen by id, never by a client's path, and opened read-only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import grpc
from django.conf import settings
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from api.auth import current_user
from api.errors import ApiError
from api.filestream import FileChunks
from api.pagetokens import PageTokenError, page_token_decode, page_token_encode
from api.selectors import ImageRecord, job_image_records, job_page_for_user
from audit.services import audit_record
from cases.access import case_get_for_user
from cases.models import Case
from gallery.cursors import CursorError
from gallery.filters import FilterError, GalleryFilters
from gallery.selectors import gallery_page
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import jobs_pb2_grpc
from jobs.access import JobAction, job_get_for_user, job_list_for_user, job_permissions
from jobs.evidence_files import EvidenceUnavailable, open_file_instance
from jobs.lifecycle import StartOutcome, job_cancel, job_start
from jobs.models import FileInstance, Job
from jobs.progress.snapshot import job_progress_snapshot
from jobs.progress.waiting import job_waits
from jobs.selectors import source_label, source_list
from jobs.services import (
    CaseRefusedForJob,
    RerunRefused,
    SourceError,
    job_create,
    job_delete,
    job_rerun,
    job_source,
)

STATUSES = {
    Job.Status.CREATED: pb.JOB_STATUS_CREATED,
    Job.Status.QUEUED: pb.JOB_STATUS_QUEUED,
    Job.Status.SCANNING: pb.JOB_STATUS_SCANNING,
    Job.Status.EXTRACTING: pb.JOB_STATUS_EXTRACTING,
    Job.Status.COMPLETED: pb.JOB_STATUS_COMPLETED,
    Job.Status.FAILED: pb.JOB_STATUS_FAILED,
    Job.Status.CANCELLED: pb.JOB_STATUS_CANCELLED,
}
JOB_ORDERS = {
    pb.JOB_ORDER_UNSPECIFIED: "newest",
    pb.JOB_ORDER_NEWEST_FIRST: "newest",
    pb.JOB_ORDER_OLDEST_FIRST: "oldest",
    pb.JOB_ORDER_NAME: "name",
}
IMAGE_ORDERS = {
    pb.IMAGE_ORDER_UNSPECIFIED: "path",
    pb.IMAGE_ORDER_PATH: "path",
    pb.IMAGE_ORDER_SIZE: "size",
    pb.IMAGE_ORDER_TAKEN: "taken",
}
MAX_PAGE = 500
MIN_CHUNK, MAX_CHUNK = 4 * 1024, 3 * 1024 * 1024  # gRPC's default message limit is 4 MiB


def _page_size(requested: int, default: int) -> int:
    if requested < 0 or requested > MAX_PAGE:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be 1-{MAX_PAGE} (0 for {default})")
    return requested or default


def timestamp_message(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _stages(rows: list[dict[str, Any]]) -> list[pb.StageProgress]:
    # The message carries the counts and the reason; what the web views derive from them (summary, gap) stays out.
    fields = pb.StageProgress.DESCRIPTOR.fields_by_name
    return [pb.StageProgress(**{key: value for key, value in row.items() if key in fields}) for row in rows]


def job_message(job: Job, user) -> pb.Job:
    progress = [
        {
            "stage": p.stage,
            "total": p.total,
            "done": p.done,
            "failed": p.failed,
            "skipped": p.skipped,
            "unavailable": p.unavailable,
            "reused": p.reused,
            "message": p.message,
        }
        for p in job.stage_progress.all()
    ]
    return pb.Job(
        id=job.pk,
        name=job.name,
        description=job.description,
        source=source_label(job),
        owner_email=job.owner.email if job.owner else "",
        status=STATUSES[job.status],
        error=job.error,
        files_seen=job.files_seen,
        images=job.images,
        distinct_images=job.distinct_images,
        skipped=job.skipped,
        errors=job.errors,
        bytes_seen=job.bytes_seen,
        discovery_finished=job.discovery_finished,
        stages=_stages(progress),
        create_time=timestamp_message(job.created_at),
        start_time=timestamp_message(job.started_at),
        finish_time=timestamp_message(job.finished_at),
        permissions=sorted(job_permissions(job=job, user=user)),
        rerun_of=job.rerun_of_id or 0,
    )


def progress_message(snapshot: dict[str, Any]) -> pb.JobProgress:
    return pb.JobProgress(
        job_id=snapshot["job"],
        status=STATUSES[snapshot["status"]],
        files_seen=snapshot["files_seen"],
        images=snapshot["images"],
        distinct_images=snapshot["distinct_images"],
        skipped=snapshot["skipped"],
        errors=snapshot["errors"],
        bytes_seen=snapshot["bytes_seen"],
        current_path=snapshot["current_path"],
        discovery_finished=snapshot["discovery_finished"],
        error=snapshot["error"],
        stages=_stages(snapshot["stages"]),
    )


def _exif_message(record: ImageRecord, with_tags: bool) -> pb.Exif | None:
    exif = record.exif
    if exif is None:
        return None
    return pb.Exif(
        camera_make=exif.camera_make,
        camera_model=exif.camera_model,
        lens_model=exif.lens_model,
        software=exif.software,
        datetime_original=exif.datetime_original,
        orientation=exif.orientation,
        gps_latitude=exif.gps_lat,
        gps_longitude=exif.gps_lon,
        gps_altitude=exif.gps_alt,
        gps_datetime=exif.gps_datetime,
        tags_json=json.dumps(exif.tags, ensure_ascii=False) if with_tags else "",
    )


def image_message(record: ImageRecord, *, file_id: int, path: str, with_tags: bool) -> pb.Image:
    image = record.image
    classification = record.classification
    return pb.Image(
        image_id=image.pk,
        file_id=file_id,
        path=path,
        instances=record.instances,
        sha256=image.sha256,
        md5=image.md5,
        sha1=image.sha1,
        size=image.size,
        mime=image.mime,
        format=image.format,
        width=image.width,
        height=image.height,
        raw_width=image.raw_width,
        raw_height=image.raw_height,
        mode=image.mode,
        bit_depth=image.bit_depth,
        dpi_x=image.dpi_x,
        dpi_y=image.dpi_y,
        frames=image.frames,
        exif=_exif_message(record, with_tags),
        faces=[
            pb.Face(index=f.index, x=f.x, y=f.y, width=f.width, height=f.height, score=f.score) for f in record.faces
        ],
        tags=[pb.Tag(label=t["label"], score=t["score"]) for t in classification.tags] if classification else [],
        caption=classification.caption if classification else "",
        results=[
            pb.StageResult(
                stage=r.stage,
                extractor_version=r.extractor_version,
                status=r.status,
                error=r.error,
                model_name=r.model_name,
                model_sha256=r.model_sha256,
            )
            for r in record.results
        ],
    )


def _job(job_id: int, action: JobAction = JobAction.VIEW) -> Job:
    """The job if the caller may see it (NOT_FOUND otherwise, so that its existence is not disclosed), and may do
    `action` with it (PERMISSION_DENIED otherwise)."""
    try:
        return job_get_for_user(user=current_user(), job_id=job_id, action=action)
    except Job.DoesNotExist:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no job {job_id}") from None


def _image_filters(f: pb.ImageFilter) -> GalleryFilters:
    """The gallery's filters for ListImages' `filter` (INVALID_ARGUMENT for a date that is not one, or text no
    stored value can hold)."""
    try:
        taken_from, taken_to = (date.fromisoformat(v) if v else None for v in (f.taken_from, f.taken_to))
    except ValueError:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "taken_from and taken_to are dates: YYYY-MM-DD") from None
    try:
        return GalleryFilters(
            gps=f.gps,
            errors=f.stage_errors,
            duplicates=f.duplicates,
            mime=f.mime,
            camera=f"{f.camera_make}\t{f.camera_model}" if f.camera_make or f.camera_model else "",
            taken_from=taken_from,
            taken_to=taken_to,
            faces=f.faces,
            tag=f.tag.strip(),
        )
    except FilterError as exc:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


def _case_named(reference: str, user) -> Case | None:
    """The case a CreateJob request names by reference (None: none named); NOT_FOUND for one the caller may not
    see, so that its existence is not disclosed."""
    if not reference.strip():
        return None
    try:
        return case_get_for_user(user=user, reference=reference)
    except Case.DoesNotExist:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no case {reference.strip()}") from None


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        user = current_user()
        order = JOB_ORDERS.get(request.order)
        if order is None:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown order {request.order}")
        size = _page_size(request.page_size, 50)
        scope = {"order": order}
        try:
            after = page_token_decode(request.page_token, listing="jobs", scope=scope) if request.page_token else None
            page = job_page_for_user(user=user, order=order, after=tuple(after) if after else None, limit=size)
        except (PageTokenError, ValueError, TypeError) as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"bad page_token: {exc}") from None
        token = page_token_encode(listing="jobs", scope=scope, key=list(page.next_key)) if page.next_key else ""
        return pb.ListJobsResponse(jobs=[job_message(j, user) for j in page.jobs], next_page_token=token)

    def ListActiveJobs(self, request, context) -> pb.ListActiveJobsResponse:
        user = current_user()
        jobs = job_list_for_user(user=user).filter(status__in=Job.ACTIVE).prefetch_related("stage_progress")
        return pb.ListActiveJobsResponse(jobs=[job_message(j, user) for j in jobs])

    def GetJob(self, request: pb.GetJobRequest, context) -> pb.Job:
        job = _job(request.job_id)
        message = job_message(job, current_user())
        message.waiting.extend(job_waits(job=job))
        return message

    def CreateJob(self, request: pb.CreateJobRequest, context) -> pb.Job:
        user = current_user()
        if len(request.name) > 200:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name is longer than 200 characters")
        if "\x00" in request.name + request.description + request.case + request.exhibit:  # as the web form refuses
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT, "name, description, case and exhibit hold no NUL characters"
            )
        if len(request.exhibit.strip()) > Job._meta.get_field("exhibit").max_length:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "exhibit is longer than 100 characters")
        try:
            source = request.source.strip()
            case, source_path = job_source(source, user=user, case=_case_named(request.case, user))
            job = job_create(
                name=request.name,
                description=request.description,
                source_path=source_path,
                owner=user,
                stages=list(request.stages) or None,
                within=settings.SOURCES_ROOT,
                case=case,
                exhibit=request.exhibit.strip(),
            )
        except SourceError as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except CaseRefusedForJob as exc:
            raise ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc)) from None
        except KeyError as exc:  # an unknown stage
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc).strip("\"'")) from None
        if request.start and job_start(job=job).result is StartOutcome.Result.SOURCE_MISSING:
            # The folder went away between its check and the start (an unmounted share): the job stays created.
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION, f"job {job.pk} was created, but its source folder is missing"
            )
        return job_message(job, user)

    def CancelJob(self, request: pb.CancelJobRequest, context) -> pb.Job:
        job = _job(request.job_id, JobAction.CHANGE)
        if not job_cancel(job=job):
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"job {job.pk} is not running (it is {job.status})")
        return job_message(job, current_user())

    def RerunJob(self, request: pb.RerunJobRequest, context) -> pb.Job:
        job = _job(request.job_id, JobAction.CHANGE)
        try:
            rerun = job_rerun(job=job, within=settings.SOURCES_ROOT)
        except RerunRefused as exc:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        return job_message(rerun, current_user())

    def DeleteJob(self, request: pb.DeleteJobRequest, context) -> pb.DeleteJobResponse:
        job = _job(request.job_id, JobAction.DELETE)
        if job.status in Job.ACTIVE:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"job {job.pk} is {job.status}: cancel it first")
        return pb.DeleteJobResponse(images_removed=job_delete(job=job))

    def ListSources(self, request, context) -> pb.ListSourcesResponse:
        return pb.ListSourcesResponse(sources=source_list(user=current_user()))

    def StartScan(self, request: pb.StartScanRequest, context) -> pb.StartScanResponse:
        job = _job(request.job_id, JobAction.CHANGE)
        outcome = job_start(job=job)
        results = StartOutcome.Result
        if outcome.result is results.ENDED:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"job {job.pk} has ended ({job.status}); RerunJob scans its source again as a new job",
            )
        response = pb.StartScanResponse
        result, message = {
            results.STARTED: (response.STARTED, "scan queued to the workers"),
            results.QUEUED: (response.QUEUED, f"queued behind {outcome.waiting} scans waiting for a free worker"),
            results.ALREADY_RUNNING: (response.ALREADY_RUNNING, f"job is {job.status}"),
            results.SOURCE_MISSING: (response.SOURCE_MISSING, "the job's source folder is missing or not a folder"),
        }[outcome.result]
        return response(result=result, job=job_message(job, current_user()), message=message)

    def WatchJobProgress(self, request: pb.WatchJobProgressRequest, context) -> Iterator[pb.JobProgress]:
        job = _job(request.job_id)
        cancelled = threading.Event()
        context.add_callback(cancelled.set)
        last, changed = None, time.monotonic()
        while True:
            try:
                snapshot = job_progress_snapshot(job_id=job.pk)
            except Job.DoesNotExist:
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"job {job.pk} was deleted") from None
            if snapshot != last:
                yield progress_message(snapshot)
                last, changed = snapshot, time.monotonic()
            if snapshot["status"] in Job.FINAL or cancelled.wait(settings.GRPC_WATCH_INTERVAL):
                return
            # A stream holds a server thread and a slot of the stream limits (api.streams): a watch of a job that
            # stands still (never started, or its client gone without a word) gives them back.
            if time.monotonic() - changed > settings.GRPC_WATCH_IDLE_TIMEOUT:
                raise ApiError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"job {job.pk} did not change for {settings.GRPC_WATCH_IDLE_TIMEOUT:g} s: watch it again",
                )

    def ListImages(self, request: pb.ListImagesRequest, context) -> pb.ListImagesResponse:
        job = _job(request.job_id)
        order = IMAGE_ORDERS.get(request.order)
        if order is None:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown order {request.order}")
        size = _page_size(request.page_size, 100)
        filters = _image_filters(request.filter)
        scope: dict[str, Any] = {"job": job.pk, "order": order}
        if wanted := MessageToDict(request.filter):  # unfiltered listings keep their tokens
            scope["filter"] = wanted
        try:
            cursor = (
                page_token_decode(request.page_token, listing="images", scope=scope) if request.page_token else None
            )
            page = gallery_page(job=job, sort=order, filters=filters, cursor=cursor, limit=size)
        except (PageTokenError, CursorError) as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"bad page_token: {exc}") from None
        records = job_image_records(
            job=job, image_ids=[item.image_id for item in page.items], exif_tags=request.include_exif_tags
        )
        images = [
            image_message(
                records[item.image_id], file_id=item.file_id, path=item.path, with_tags=request.include_exif_tags
            )
            for item in page.items
            if item.image_id in records
        ]
        token = page_token_encode(listing="images", scope=scope, key=page.next_cursor) if page.next_cursor else ""
        return pb.ListImagesResponse(images=images, next_page_token=token)

    def StreamFile(self, request: pb.StreamFileRequest, context) -> Iterator[pb.FileChunk | bytes]:
        job, instance = self._file(request)
        chunk = request.chunk_size or settings.GRPC_STREAM_CHUNK_BYTES
        if not MIN_CHUNK <= chunk <= MAX_CHUNK:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"chunk_size must be {MIN_CHUNK}-{MAX_CHUNK} bytes")
        try:
            fp = open_file_instance(job=job, instance=instance)
        except EvidenceUnavailable as exc:
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        evidence = {"file_id": instance.pk, "size": instance.size, "sha256": instance.sha256}
        audit_record("file.stream", job_id=job.pk, target=instance.path, detail="sending", **evidence)
        with fp:
            yield pb.FileChunk(
                header=pb.FileHeader(
                    file_id=instance.pk,
                    image_id=instance.image_id or 0,
                    job_id=job.pk,
                    path=instance.path,
                    size=instance.size,
                    mime=instance.mime,
                    sha256=instance.sha256,
                )
            )
            # Data messages go out already serialized (api.filestream.StreamFileSerializer passes them through).
            chunks = FileChunks(fp, chunk, read_ahead=settings.GRPC_STREAM_READ_AHEAD)
            yield from chunks
        if instance.sha256 and chunks.sha256 != instance.sha256:
            raise ApiError(
                grpc.StatusCode.DATA_LOSS,
                f"the evidence file changed since the scan: SHA-256 {chunks.sha256}, recorded {instance.sha256}",
            )
        sent = f"sent {chunks.size} bytes, SHA-256 {chunks.sha256}"
        audit_record("file.stream", job_id=job.pk, target=instance.path, detail=sent, **evidence)
        yield pb.FileChunk(trailer=pb.FileTrailer(sha256=chunks.sha256, size=chunks.size))

    def _file(self, request: pb.StreamFileRequest) -> tuple[Job, FileInstance]:
        """The file instance asked for, in a job the caller may see (NOT_FOUND for anything else)."""
        target = request.WhichOneof("target")
        if target == "file_id":
            instance = FileInstance.objects.filter(pk=request.file_id).first()
            if instance is None or (request.job_id and instance.job_id != request.job_id):
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"no file {request.file_id}")
            try:
                job = _job(instance.job_id)
            except ApiError:
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"no file {request.file_id}") from None
        elif target == "image_id":
            jobs = job_list_for_user(user=current_user()).filter(job_images__image_id=request.image_id)
            if request.job_id:
                jobs = jobs.filter(pk=request.job_id)
            job = jobs.order_by("pk").first()
            instance = (
                FileInstance.objects.filter(job=job, image_id=request.image_id, status=FileInstance.Status.IMAGE)
                .order_by("path", "id")
                .first()
                if job
                else None
            )
            if job is None or instance is None:
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"no image {request.image_id}")
        else:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name a file_id or an image_id")
        if instance.kind != "file":
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"file {instance.pk} is a {instance.kind}, not a file")
        return job, instance
