"""`manage.py ctl ...`: the operator's command line over the gRPC API (it never touches the database itself).

    ctl workers                          every worker: queues (paused ones marked), pool, what it runs
    ctl pause QUEUE [--worker W]         stop consuming a queue on one worker or on all
    ctl resume QUEUE [--worker W]        consume it again
    ctl drain WORKER                     stop it taking work and wait until it holds none
    ctl concurrency WORKER N             grow or shrink its pool
    ctl jobs [--active] [--order O]      jobs the token's user may see
    ctl job ID | watch ID | start ID | cancel ID | rerun ID | delete ID
    ctl sources | create SOURCE [--name N] [--stages a,b] [--start]
    ctl images JOB [--limit N]           a job's images with their hashes and EXIF summary
    ctl fetch FILE_ID -o OUT             an evidence file's bytes, checked against its recorded SHA-256
    ctl fetch-images JOB -o DIR          every image of a job, each checked, named by its SHA-256, with a manifest

The server is GRPC_TARGET (--server), the token SCANNER_API_TOKEN (--token), the server's certificate or its CA
GRPC_TLS_CA (--ca); --insecure talks to a server on this machine started with --insecure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from api.client import channel_open
from api.fetch import MANIFEST, FolderRefused, TransferError, copy_to, file_copy, images_fetch, outcome_counts
from evidence.display import display_text
from imagescanner.v1 import jobs_pb2 as jobs
from imagescanner.v1 import jobs_pb2_grpc, workers_pb2_grpc
from imagescanner.v1 import workers_pb2 as workers
from jobs.models import stage_finished, stage_summary

ORDERS = {"newest": jobs.JOB_ORDER_NEWEST_FIRST, "oldest": jobs.JOB_ORDER_OLDEST_FIRST, "name": jobs.JOB_ORDER_NAME}


def _status(value: int) -> str:
    return jobs.JobStatus.Name(value).removeprefix("JOB_STATUS_").lower()


def _stage_summaries(stages: Iterable[jobs.StageProgress]) -> str:
    return "  ".join(
        stage_summary(
            stage=s.stage,
            total=s.total,
            finished=stage_finished(done=s.done, failed=s.failed, skipped=s.skipped, unavailable=s.unavailable),
            unavailable=s.unavailable,
        )
        for s in stages
    )


def _filter_arguments(parser: CommandParser) -> None:
    """The web gallery's filters, for the commands that list a job's images."""
    group = parser.add_argument_group("filters (the gallery's; an image must pass every one given)")
    group.add_argument("--gps", action="store_true", help="with a GPS position")
    group.add_argument("--faces", action="store_true", help="with at least one face")
    group.add_argument("--tag", default="", help="with this content tag (e.g. weapon)")
    group.add_argument("--stage-errors", action="store_true", help="a stage failed on it")
    group.add_argument("--duplicates", action="store_true", help="found at more than one path")
    group.add_argument("--type", default="", dest="mime", help="of this type (e.g. image/png)")
    group.add_argument("--camera", nargs=2, default=("", ""), metavar=("MAKE", "MODEL"), help="EXIF make and model")
    group.add_argument("--taken-from", default="", metavar="YYYY-MM-DD", help="taken on or after (EXIF)")
    group.add_argument("--taken-to", default="", metavar="YYYY-MM-DD", help="taken on or before (EXIF)")


def _image_filter(options: dict[str, Any]) -> jobs.ImageFilter:
    make, model = options["camera"]
    return jobs.ImageFilter(
        gps=options["gps"],
        faces=options["faces"],
        tag=options["tag"],
        stage_errors=options["stage_errors"],
        duplicates=options["duplicates"],
        mime=options["mime"],
        camera_make=make,
        camera_model=model,
        taken_from=options["taken_from"],
        taken_to=options["taken_to"],
    )


class Command(BaseCommand):
    help = "Operate the scanner over its gRPC API: workers and queues, jobs, images, evidence files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", default=settings.GRPC_TARGET, help="host:port (GRPC_TARGET)")
        parser.add_argument("--token", default=None, help="API token (default: SCANNER_API_TOKEN)")
        parser.add_argument("--ca", default=settings.GRPC_TLS_CA, help="PEM file to verify the server (GRPC_TLS_CA)")
        parser.add_argument("--server-name", default="", help="name the server's certificate carries, if not the host")
        parser.add_argument("--insecure", action="store_true", help="no TLS: a server on this machine (--insecure)")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("workers", help="workers, their queues (paused ones marked), pools and tasks")
        for name in ("pause", "resume"):
            queue = sub.add_parser(name, help=f"{name} a queue on one worker or on all")
            queue.add_argument("queue")
            queue.add_argument("--worker", default="", help="one worker's name (default: all)")
        sub.add_parser("drain", help="stop a worker taking work; wait until it holds none").add_argument("worker")
        size = sub.add_parser("concurrency", help="grow or shrink a worker's pool")
        size.add_argument("worker")
        size.add_argument("processes", type=int)
        listing = sub.add_parser("jobs", help="jobs you may see")
        listing.add_argument("--active", action="store_true", help="only queued, scanning or extracting ones")
        listing.add_argument("--order", choices=sorted(ORDERS), default="newest")
        listing.add_argument("--limit", type=int, default=50)
        for name in ("job", "watch", "start", "cancel", "rerun", "delete"):
            sub.add_parser(name, help=f"{name} a job").add_argument("job_id", type=int)
        sub.add_parser("sources", help="folders you may create a job on")
        create = sub.add_parser("create", help="create a job on a source")
        create.add_argument("source")
        create.add_argument("--name", default="")
        create.add_argument("--description", default="")
        create.add_argument("--stages", default="", help="comma-separated (default: the server's)")
        create.add_argument("--start", action="store_true")
        images = sub.add_parser("images", help="a job's images")
        images.add_argument("job_id", type=int)
        images.add_argument("--limit", type=int, default=100)
        _filter_arguments(images)
        fetch = sub.add_parser("fetch", help="an evidence file's bytes, SHA-256 checked")
        fetch.add_argument("file_id", type=int)
        fetch.add_argument("-o", "--output", required=True, help="file to write ('-' for standard output)")
        many = sub.add_parser("fetch-images", help="every image of a job, SHA-256 checked, with a manifest")
        many.add_argument("job_id", type=int)
        many.add_argument("-o", "--output", required=True, help="folder to copy into (made if missing)")
        many.add_argument("--parallel", type=int, choices=range(1, 17), default=4, metavar="1-16",
                          help="streams at a time (default 4)")  # fmt: skip
        _filter_arguments(many)

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"] or os.environ.get("SCANNER_API_TOKEN", "")
        if not token:
            raise CommandError("no API token: pass --token or set SCANNER_API_TOKEN")
        ca = Path(options["ca"]).read_bytes() if options["ca"] and not options["insecure"] else None
        channel = channel_open(
            target=options["server"], token=token, ca=ca, local=options["insecure"], server_name=options["server_name"]
        )
        self.channel = channel
        self.jobs = jobs_pb2_grpc.JobServiceStub(channel)
        self.workers = workers_pb2_grpc.WorkerServiceStub(channel)
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(options)
        except grpc.RpcError as exc:
            raise CommandError(f"{exc.code().name}: {exc.details()}") from None
        finally:
            channel.close()

    # --- workers ---------------------------------------------------------------------------------------------
    def _workers(self, options: dict[str, Any]) -> None:
        found = self.workers.ListWorkers(workers.ListWorkersRequest()).workers
        if not found:
            self.stdout.write("no worker answered")
        for w in found:
            queues = [*w.queues, *(f"{q} (PAUSED)" for q in w.paused_queues)]
            self.stdout.write(
                f"{w.hostname}  pool {w.pool_size}  queues {', '.join(queues) or '-'}  "
                f"active {len(w.active)}  reserved {len(w.reserved)}  scheduled {len(w.scheduled)}"
            )
            for task in w.active:
                self.stdout.write(f"    running {task.name}{task.args}  pid {task.worker_pid}  {task.id}")

    def _pause(self, options: dict[str, Any]) -> None:
        done = self.workers.PauseQueue(workers.PauseQueueRequest(queue=options["queue"], worker=options["worker"]))
        self.stdout.write(f"{options['queue']} paused on {', '.join(done.workers)}")

    def _resume(self, options: dict[str, Any]) -> None:
        done = self.workers.ResumeQueue(workers.ResumeQueueRequest(queue=options["queue"], worker=options["worker"]))
        self.stdout.write(f"{options['queue']} resumed on {', '.join(done.workers)}")

    def _drain(self, options: dict[str, Any]) -> None:
        for state in self.workers.DrainWorker(workers.DrainWorkerRequest(worker=options["worker"])):
            self.stdout.write(
                f"{state.worker}: paused {', '.join(state.paused_queues) or '-'}; active {state.active}, "
                f"reserved {state.reserved}, scheduled {state.scheduled}{'  IDLE' if state.idle else ''}"
            )

    def _concurrency(self, options: dict[str, Any]) -> None:
        done = self.workers.SetConcurrency(
            workers.SetConcurrencyRequest(worker=options["worker"], concurrency=options["processes"])
        )
        self.stdout.write(f"{done.worker}: pool {done.previous} -> {done.pool_size} processes")

    # --- jobs --------------------------------------------------------------------------------------------------
    def _job_line(self, job: jobs.Job) -> str:
        stages = _stage_summaries(job.stages)
        return (
            f"{job.id:>6}  {_status(job.status):<10}  {job.name}  [{job.source}]  files {job.files_seen}  "
            f"images {job.images}  errors {job.errors}  {stages}"
        )

    def _jobs(self, options: dict[str, Any]) -> None:
        if options["active"]:
            for job in self.jobs.ListActiveJobs(jobs.ListActiveJobsRequest()).jobs:
                self.stdout.write(self._job_line(job))
            return
        shown, token = 0, ""
        while shown < options["limit"]:
            page = self.jobs.ListJobs(
                jobs.ListJobsRequest(
                    page_size=min(100, options["limit"] - shown), page_token=token, order=ORDERS[options["order"]]
                )
            )
            for job in page.jobs:
                self.stdout.write(self._job_line(job))
            shown += len(page.jobs)
            token = page.next_page_token
            if not token:
                break

    def _job(self, options: dict[str, Any]) -> None:
        job = self.jobs.GetJob(jobs.GetJobRequest(job_id=options["job_id"]))
        self.stdout.write(self._job_line(job))
        if job.error:
            self.stdout.write(f"  error: {job.error}")
        for stage in job.stages:
            if stage.message:
                self.stdout.write(f"  {stage.stage}: {stage.message}")

    def _watch(self, options: dict[str, Any]) -> None:
        for p in self.jobs.WatchJobProgress(jobs.WatchJobProgressRequest(job_id=options["job_id"])):
            stages = _stage_summaries(p.stages)
            self.stdout.write(
                f"{_status(p.status):<10} files {p.files_seen}  images {p.images}  errors {p.errors}  {stages}"
            )

    def _start(self, options: dict[str, Any]) -> None:
        done = self.jobs.StartScan(jobs.StartScanRequest(job_id=options["job_id"]))
        self.stdout.write(f"{jobs.StartScanResponse.Result.Name(done.result)}: {done.message}")

    def _cancel(self, options: dict[str, Any]) -> None:
        job = self.jobs.CancelJob(jobs.CancelJobRequest(job_id=options["job_id"]))
        self.stdout.write(self._job_line(job))

    def _rerun(self, options: dict[str, Any]) -> None:
        job = self.jobs.RerunJob(jobs.RerunJobRequest(job_id=options["job_id"]))
        self.stdout.write(self._job_line(job))

    def _delete(self, options: dict[str, Any]) -> None:
        done = self.jobs.DeleteJob(jobs.DeleteJobRequest(job_id=options["job_id"]))
        self.stdout.write(f"job {options['job_id']} deleted with {done.images_removed} images no other job holds")

    def _sources(self, options: dict[str, Any]) -> None:
        for source in self.jobs.ListSources(jobs.ListSourcesRequest()).sources:
            self.stdout.write(source)

    def _create(self, options: dict[str, Any]) -> None:
        job = self.jobs.CreateJob(
            jobs.CreateJobRequest(
                source=options["source"],
                name=options["name"],
                description=options["description"],
                stages=[s for s in options["stages"].split(",") if s],
                start=options["start"],
            )
        )
        self.stdout.write(self._job_line(job))

    def _images(self, options: dict[str, Any]) -> None:
        shown, token = 0, ""
        while shown < options["limit"]:
            page = self.jobs.ListImages(
                jobs.ListImagesRequest(
                    job_id=options["job_id"],
                    page_size=min(500, options["limit"] - shown),
                    page_token=token,
                    filter=_image_filter(options),
                )
            )
            for image in page.images:
                # The camera is EXIF as recorded (the API sends values exactly); the path comes already shown.
                exif = image.exif if image.HasField("exif") else None
                camera = display_text(f"{exif.camera_make} {exif.camera_model}".strip()) if exif else ""
                self.stdout.write(
                    f"{image.image_id:>8}  file {image.file_id}  {image.sha256}  {image.width}x{image.height}  "
                    f"{image.mime}  {camera}  {image.path}"
                )
            shown += len(page.images)
            token = page.next_page_token
            if not token:
                break

    def _evidence_roots(self) -> list[Path]:
        """SOURCES_ROOT and the source of every job the user may see, as this machine sees them: never written to."""
        roots, token = [Path(settings.SOURCES_ROOT)], ""
        while True:
            page = self.jobs.ListJobs(jobs.ListJobsRequest(page_size=100, page_token=token))
            roots += [Path(settings.SOURCES_ROOT) / job.source for job in page.jobs]  # an absolute one stays as it is
            token = page.next_page_token
            if not token:
                return roots

    def _outside_evidence(self, path: Path) -> Path:
        path = path.resolve()
        for evidence in self._evidence_roots():
            if path.is_relative_to(evidence.resolve()):
                raise CommandError(f"{path} is inside the evidence ({evidence}): copy it somewhere else")
        return path

    def _report(self, message: str) -> None:
        """A copy's outcome, on standard error (standard output may carry the bytes), uncoloured: not an error."""
        self.stderr.write(message, style_func=str)

    def _fetch(self, options: dict[str, Any]) -> None:
        request = jobs.StreamFileRequest(file_id=options["file_id"])
        try:
            if options["output"] == "-":
                copied = file_copy(self.channel, request, sys.stdout.buffer)
            else:
                copied = copy_to(self.channel, request, self._outside_evidence(Path(options["output"])))
        except TransferError as exc:
            raise CommandError(f"{exc}: do not use the output" if options["output"] == "-" else str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
        self._report(f"{copied.header.path}: {copied.size} bytes, SHA-256 {copied.sha256} (matches the scan)")

    def _fetch_images(self, options: dict[str, Any]) -> None:
        job = self.jobs.GetJob(jobs.GetJobRequest(job_id=options["job_id"]))
        image_filter = _image_filter(options)
        folder = self._outside_evidence(Path(options["output"]))
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot use {folder} as the output folder: {exc.strerror}") from None
        with Progress(
            "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=Console(file=sys.stderr), disable=not sys.stderr.isatty(),
        ) as progress:  # fmt: skip
            task = progress.add_task(f"job {job.id}", total=None)
            try:
                results = images_fetch(
                    self.channel,
                    job_id=job.id,
                    image_filter=image_filter,
                    folder=folder,
                    parallel=options["parallel"],
                    done=lambda size: progress.advance(task, size),
                    listed=lambda images: progress.update(task, total=sum(i.size for i in images)),
                )
            except FolderRefused as exc:
                raise CommandError(str(exc)) from None
            except OSError as exc:  # the folder itself (its lock, manifest or run record), not one image's copy
                raise CommandError(f"cannot write to {folder}: {exc}") from None
        counts = outcome_counts(results)
        wanted = MessageToDict(image_filter, preserving_proto_field_name=True)
        chosen = f" ({', '.join(f'{k} {v}' for k, v in wanted.items())})" if wanted else ""
        self._report(
            f"job {job.id}{chosen}: {len(results)} images in {folder}: {counts['fetched']} fetched, "
            f"{counts['present']} already there, {counts['error']} failed; each checked against the scan's SHA-256; "
            f"manifest {folder / MANIFEST}"
        )
        if counts["error"]:
            first = next(r for r in results if r.status == "error")
            raise CommandError(
                f"{counts['error']} images could not be copied (the first: {first.image.path}: {first.error}); "
                f"see {folder / MANIFEST}"
            )
