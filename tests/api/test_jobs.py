"""JobService against a real server and real workers: creating jobs on named sources only, starting scans, watching
progress, paging jobs and images, and streaming evidence files by id."""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import shutil

import grpc
import pytest

from api.filestream import file_stream
from api.jobs_servicer import _image_filters
from api.models import ApiToken
from audit.models import AuditEvent
from content.models import Image
from gallery.filters import GalleryFilters
from imagescanner.v1 import jobs_pb2 as pb
from imagescanner.v1 import workers_pb2 as wpb
from jobs.lifecycle import job_start
from jobs.models import FileInstance, Job, JobImage
from jobs.samples import make_sample_tree, write_photo
from jobs.services import job_create
from tests.support.grpc import rpc_error
from tests.support.jobs import finished, photos
from tests.support.sources import sources_assigned

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_create_job_takes_a_source_name_and_refuses_every_way_out(grpc_server, alice, tmp_path):
    root = grpc_server.sources_root
    photos(root / "case-1", range(2))
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    sources_assigned(alice.user, "case-1", "escape", ".hidden", "missing")  # assigned, still no way out
    assert "case-1" in alice.jobs.ListSources(pb.ListSourcesRequest()).sources
    assert "escape" not in alice.jobs.ListSources(pb.ListSourcesRequest()).sources

    # Exactly what ListSources offers: not the root itself, a hidden folder, a subfolder, or a way out.
    photos(root / ".hidden", range(1))
    photos(root / "case-1" / "sub", range(1))
    refused = ("../", "/etc", str(root / "case-1"), "escape", "case-1/../..", "", "missing", "case-1\x00", ".",
               "./", ".hidden", "case-1/sub", "case-1/", "./case-1", "case-1/.")  # fmt: skip
    assert not set(refused) & set(alice.jobs.ListSources(pb.ListSourcesRequest()).sources)
    for source in refused:
        error = rpc_error(alice.jobs.CreateJob, pb.CreateJobRequest(name="x", source=source))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, source
        # The server's paths stay on the server.
        assert os.path.realpath(root) not in error.details().replace(str(root / "case-1"), ""), source
        assert "no source" in error.details(), source
    assert not Job.objects.exists()
    error = rpc_error(alice.jobs.CreateJob, pb.CreateJobRequest(source="case-1", stages=["nope"]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown stage" in error.details()

    job = alice.jobs.CreateJob(pb.CreateJobRequest(name="Case 1", description="d", source="case-1", stages=["exif"]))
    assert (job.name, job.source, job.status, job.owner_email) == (
        "Case 1",
        "case-1",
        pb.JOB_STATUS_CREATED,
        alice.user.email,
    )
    assert list(job.permissions) == ["change", "delete", "share", "view"]
    stored = Job.objects.get(pk=job.id)
    assert stored.owner == alice.user
    assert stored.source_path == os.path.realpath(root / "case-1")


def test_a_job_created_and_started_over_grpc_completes_and_its_progress_streams(grpc_server, alice, workers):
    photos(grpc_server.sources_root / "case-2", range(20))
    sources_assigned(alice.user, "case-2")
    job = alice.jobs.CreateJob(pb.CreateJobRequest(source="case-2", stages=["exif"], start=True))
    assert job.status == pb.JOB_STATUS_QUEUED
    updates = list(alice.jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=job.id), timeout=120))

    assert updates[-1].status == pb.JOB_STATUS_COMPLETED
    assert (updates[-1].files_seen, updates[-1].images, updates[-1].errors) == (20, 20, 0)
    assert [(s.stage, s.total, s.done) for s in updates[-1].stages] == [("exif", 20, 20)]
    # Sent on change only: no two messages in a row alike, and the counts never go back.
    assert all(a != b for a, b in itertools.pairwise(updates))
    seen = [u.files_seen for u in updates]
    assert seen == sorted(seen)
    assert alice.jobs.ListActiveJobs(pb.ListActiveJobsRequest()).jobs == []
    # A watch of an ended job sends its final state and ends.
    again = list(alice.jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=job.id)))
    assert len(again) == 1
    assert again[0] == updates[-1]
    # Ended: no second start, but RerunJob scans the source again as a new job, linking what the first one found.
    error = rpc_error(alice.jobs.StartScan, pb.StartScanRequest(job_id=job.id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "RerunJob" in error.details()
    rerun = alice.jobs.RerunJob(pb.RerunJobRequest(job_id=job.id))
    assert (rerun.rerun_of, rerun.name, rerun.owner_email) == (job.id, job.name, "alice@example.org")
    final = list(alice.jobs.WatchJobProgress(pb.WatchJobProgressRequest(job_id=rerun.id), timeout=120))[-1]
    assert final.status == pb.JOB_STATUS_COMPLETED
    assert [(s.stage, s.total, s.done, s.reused) for s in final.stages] == [("exif", 20, 20, 20)]
    waiting = alice.jobs.CreateJob(pb.CreateJobRequest(source="case-2", stages=["exif"]))
    assert rpc_error(alice.jobs.RerunJob, pb.RerunJobRequest(job_id=waiting.id)).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    # An ended job can be deleted, with the images no other job holds.
    assert alice.jobs.DeleteJob(pb.DeleteJobRequest(job_id=job.id)).images_removed == 0
    assert alice.jobs.DeleteJob(pb.DeleteJobRequest(job_id=rerun.id)).images_removed == 20
    assert not Job.objects.filter(pk__in=[job.id, rerun.id]).exists()


def test_start_scan_reports_started_queued_running_and_missing_sources(grpc_server, alice, operator, workers):
    root = grpc_server.sources_root
    for name in ("a", "b", "gone"):
        photos(root / name, range(2), folder=name)
    sources_assigned(alice.user, "a", "b", "gone")
    first, second, gone = (
        alice.jobs.CreateJob(pb.CreateJobRequest(source=name, stages=["exif"])) for name in ("a", "b", "gone")
    )
    shutil.rmtree(root / "gone")
    missing = alice.jobs.StartScan(pb.StartScanRequest(job_id=gone.id))
    assert missing.result == pb.StartScanResponse.SOURCE_MISSING
    assert Job.objects.get(pk=gone.id).status == Job.Status.CREATED

    # With nobody consuming `jobs`, the first scan waits at the head of the queue and the second behind it.
    operator.workers.PauseQueue(wpb.PauseQueueRequest(queue="jobs"))
    try:
        assert alice.jobs.StartScan(pb.StartScanRequest(job_id=first.id)).result == pb.StartScanResponse.STARTED
        queued = alice.jobs.StartScan(pb.StartScanRequest(job_id=second.id))
        assert queued.result == pb.StartScanResponse.QUEUED
        assert queued.job.status == pb.JOB_STATUS_QUEUED
        again = alice.jobs.StartScan(pb.StartScanRequest(job_id=first.id))
        assert again.result == pb.StartScanResponse.ALREADY_RUNNING
        assert {j.id for j in alice.jobs.ListActiveJobs(pb.ListActiveJobsRequest()).jobs} == {first.id, second.id}
        error = rpc_error(alice.jobs.DeleteJob, pb.DeleteJobRequest(job_id=first.id))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        operator.workers.ResumeQueue(wpb.ResumeQueueRequest(queue="jobs"))
    for job_id in (first.id, second.id):
        assert finished(Job.objects.get(pk=job_id)).status == Job.Status.COMPLETED


def _page_all(stub, order, size, between=None) -> list[int]:
    ids, token = [], ""
    while True:
        page = stub.ListJobs(pb.ListJobsRequest(page_size=size, page_token=token, order=order))
        ids += [j.id for j in page.jobs]
        token = page.next_page_token
        if not token:
            return ids
        if between:
            between()


def test_list_jobs_pages_stay_stable_while_jobs_are_inserted(grpc_server, alice, bob, evidence_dir):
    def make(owner, n: int) -> list[int]:
        return [job_create(name=f"job {i:02d}", source_path=evidence_dir, owner=owner, stages=[]).pk for i in range(n)]

    original = make(alice.user, 23)
    make(bob.user, 4)  # never shown to alice
    inserted: list[int] = []

    def insert() -> None:
        inserted.extend(make(alice.user, 2))

    newest = _page_all(alice.jobs, pb.JOB_ORDER_NEWEST_FIRST, 5, insert)
    assert newest == sorted(original, reverse=True)  # every job once, in order; none inserted meanwhile
    assert len(inserted) == 8

    before = sorted(original + inserted)
    inserted.clear()
    oldest = _page_all(alice.jobs, pb.JOB_ORDER_OLDEST_FIRST, 7, insert)
    assert oldest == before + inserted  # the new ones come after every earlier one, each once
    by_name = _page_all(alice.jobs, pb.JOB_ORDER_NAME, 10, insert)
    assert len(by_name) == len(set(by_name))
    assert set(by_name) >= set(before)

    page = alice.jobs.ListJobs(pb.ListJobsRequest(page_size=5, order=pb.JOB_ORDER_NEWEST_FIRST))
    for token, order in (
        (page.next_page_token, pb.JOB_ORDER_OLDEST_FIRST),  # another order's token
        (page.next_page_token[:-3] + "abc", pb.JOB_ORDER_NEWEST_FIRST),  # tampered
        ("garbage", pb.JOB_ORDER_NEWEST_FIRST),
    ):
        error = rpc_error(alice.jobs.ListJobs, pb.ListJobsRequest(page_size=5, page_token=token, order=order))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_error(alice.jobs.ListJobs, pb.ListJobsRequest(page_size=501)).code() == grpc.StatusCode.INVALID_ARGUMENT


def _scanned(grpc_server, owner, name: str, count: int, big: bool = False) -> Job:
    source = grpc_server.sources_root / name
    if big:
        write_photo(source / "a-big.jpg", width=1200, height=900, seed=7)
    photos(source, range(count), folder="photos")
    photos(source, range(3), folder="copies")  # the same content at a second path
    job = job_create(name=name, source_path=source, owner=owner, stages=["exif"])
    job_start(job=job)
    assert finished(job).status == Job.Status.COMPLETED
    return job


def test_list_images_pages_every_image_once_with_its_extracted_data(grpc_server, alice, workers):
    job = _scanned(grpc_server, alice.user, "case-images", 23)
    for order in (pb.IMAGE_ORDER_PATH, pb.IMAGE_ORDER_SIZE, pb.IMAGE_ORDER_TAKEN):
        images, token = [], ""
        while True:
            page = alice.jobs.ListImages(
                pb.ListImagesRequest(job_id=job.pk, page_size=6, page_token=token, order=order)
            )
            images += page.images
            token = page.next_page_token
            if not token:
                break
        assert sorted(i.image_id for i in images) == sorted(
            JobImage.objects.filter(job=job).values_list("image_id", flat=True)
        )
    by_id = {i.image_id: i for i in images}
    for image in Image.objects.filter(pk__in=by_id):
        sent = by_id[image.pk]
        assert (sent.sha256, sent.md5, sent.size, sent.width, sent.mime) == (
            image.sha256,
            image.md5,
            image.size,
            image.width,
            image.mime,
        )
        assert sent.HasField("exif")
        assert (sent.exif.camera_make, sent.exif.datetime_original[:10]) == ("Test", "2024-01-02")
        assert not sent.exif.HasField("gps_latitude")
        assert [(r.stage, r.status) for r in sent.results] == [("exif", "done")]
        assert FileInstance.objects.get(pk=sent.file_id).image_id == image.pk
    assert sorted(i.instances for i in images) == [1] * 20 + [2] * 3

    page = alice.jobs.ListImages(pb.ListImagesRequest(job_id=job.pk, page_size=2, include_exif_tags=True))
    assert json.loads(page.images[0].exif.tags_json)["IFD0"]["Make"] == "Test"
    other = _scanned(grpc_server, alice.user, "case-other", 2)
    error = rpc_error(alice.jobs.ListImages, pb.ListImagesRequest(job_id=other.pk, page_token=page.next_page_token))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # a token of another job's listing


def test_list_images_takes_the_gallery_s_filters_and_binds_its_page_tokens_to_them(grpc_server, alice, workers):
    source = grpc_server.sources_root / "case-filters"
    make_sample_tree(source)  # 9 photos of 3 cameras (GPS on 6), taken 2023-05-01 to 09, a copy of one, a PNG
    job = job_create(name="filters", source_path=source, owner=alice.user, stages=["exif"])
    job_start(job=job)
    assert finished(job).status == Job.Status.COMPLETED

    def listed(page_size: int = 500, **wanted) -> list[str]:
        paths, token = [], ""
        while True:
            page = alice.jobs.ListImages(
                pb.ListImagesRequest(
                    job_id=job.pk, page_size=page_size, page_token=token, filter=pb.ImageFilter(**wanted)
                )
            )
            paths += [i.path for i in page.images]
            token = page.next_page_token
            if not token:
                return paths

    def photo(*numbers: int) -> list[str]:
        return [f"camera-{n % 3}/DCIM/IMG_{1000 + n}.jpg" for n in sorted(numbers, key=lambda n: (n % 3, n))]

    assert len(listed()) == 10
    assert listed(page_size=2, gps=True) == photo(0, 1, 3, 4, 6, 7)
    assert listed(camera_make="Apple", camera_model="iPhone 12") == photo(1, 4, 7)
    assert listed(camera_make="Apple") == []  # make and model match together
    assert listed(taken_from="2023-05-03", taken_to="2023-05-05") == photo(2, 3, 4)
    assert listed(gps=True, camera_make="Canon", camera_model="EOS 80D", taken_to="2023-05-04") == photo(0, 3)
    assert listed(duplicates=True) == photo(0)
    assert listed(mime="image/png") == ["screenshots/screen.png"]

    first = alice.jobs.ListImages(pb.ListImagesRequest(job_id=job.pk, page_size=2, filter=pb.ImageFilter(gps=True)))
    for other in (pb.ImageFilter(), pb.ImageFilter(gps=True, duplicates=True)):
        error = rpc_error(
            alice.jobs.ListImages, pb.ListImagesRequest(job_id=job.pk, page_token=first.next_page_token, filter=other)
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # a token of another filter's listing
    for day in ("2023-02-30", "May 3rd"):
        request = pb.ListImagesRequest(job_id=job.pk, filter=pb.ImageFilter(taken_to=day))
        error = rpc_error(alice.jobs.ListImages, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_field_of_an_image_filter_reaches_the_gallery_s_filters():
    wanted = pb.ImageFilter(
        gps=True, faces=True, tag=" weapon ", stage_errors=True, duplicates=True, mime="image/png",
        camera_make="Canon", camera_model="EOS 80D", taken_from="2023-05-01", taken_to="2023-05-09",
    )  # fmt: skip
    assert _image_filters(wanted) == GalleryFilters(
        gps=True, errors=True, duplicates=True, mime="image/png", camera="Canon\tEOS 80D",
        taken_from=datetime.date(2023, 5, 1), taken_to=datetime.date(2023, 5, 9), faces=True, tag="weapon",
    )  # fmt: skip
    assert _image_filters(pb.ImageFilter()) == GalleryFilters()
    for field in pb.ImageFilter.DESCRIPTOR.fields:  # a field added to the proto must filter
        one = pb.ImageFilter(**{field.name: getattr(wanted, field.name)})
        assert _image_filters(one) != GalleryFilters(), field.name


def _stream(stub, request) -> tuple[list[pb.FileChunk], bytes]:
    chunks = list(stub.StreamFile(request))
    return chunks, b"".join(c.data for c in chunks if c.WhichOneof("part") == "data")


def test_stream_file_sends_the_exact_bytes_with_their_sha256(grpc_server, alice, workers):
    job = _scanned(grpc_server, alice.user, "case-files", 2, big=True)
    instance = FileInstance.objects.filter(job=job, status="image").order_by("path").first()
    on_disk = (grpc_server.sources_root / "case-files" / instance.path).read_bytes()
    assert len(on_disk) > 3 * 4096

    chunks, content = _stream(alice.jobs, pb.StreamFileRequest(file_id=instance.pk, chunk_size=4096))
    assert chunks[0].WhichOneof("part") == "header"
    assert chunks[-1].WhichOneof("part") == "trailer"
    assert len(chunks) == 2 + -(-len(on_disk) // 4096)
    assert content == on_disk
    assert (
        hashlib.sha256(content).hexdigest() == instance.sha256 == chunks[-1].trailer.sha256 == chunks[0].header.sha256
    )
    assert (chunks[0].header.path, chunks[0].header.size, chunks[-1].trailer.size) == (
        instance.path,
        len(on_disk),
        len(on_disk),
    )

    # The project's client (`ctl fetch`) takes the data out of the messages without parsing them.
    with grpc_server.channel(alice.token) as channel:
        parts = list(file_stream(channel, pb.StreamFileRequest(file_id=instance.pk, chunk_size=4096)))
    assert all(isinstance(part, memoryview) for part in parts[1:-1])
    assert b"".join(parts[1:-1]) == on_disk
    assert parts[0].header.sha256 == parts[-1].trailer.sha256 == instance.sha256

    _, by_image = _stream(alice.jobs, pb.StreamFileRequest(image_id=instance.image_id))
    assert hashlib.sha256(by_image).hexdigest() == Image.objects.get(pk=instance.image_id).sha256

    for request in (pb.StreamFileRequest(file_id=instance.pk, chunk_size=100), pb.StreamFileRequest()):
        assert rpc_error(alice.jobs.StreamFile, request).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        rpc_error(alice.jobs.StreamFile, pb.StreamFileRequest(file_id=instance.pk, job_id=job.pk + 1000)).code()
        == grpc.StatusCode.NOT_FOUND
    )

    # The audit log holds every stream: who, with which token, from where, which file, and that it went out whole.
    streams = AuditEvent.objects.filter(action="file.stream", user_id=alice.user.pk).order_by("id")
    token_prefix = ApiToken.objects.get(user=alice.user).prefix
    assert {(e.via, e.credential) for e in streams} == {("grpc", token_prefix)}
    assert all(e.client.startswith("ipv") for e in streams)
    first = streams.filter(data__file_id=instance.pk, outcome="ok")[:2]
    assert [(e.job_id, e.target, e.detail) for e in first] == [
        (job.pk, instance.path, "sending"),
        (job.pk, instance.path, f"sent {len(on_disk)} bytes, SHA-256 {instance.sha256}"),
    ]
    assert first[0].data == {"file_id": instance.pk, "size": len(on_disk), "sha256": instance.sha256}
    refused = streams.get(outcome="refused", detail__startswith="NOT_FOUND: ")
    assert (refused.job_id, refused.data) == (job.pk + 1000, {"file_id": instance.pk})
    # Malformed requests are refusals too.
    assert streams.filter(outcome="refused", detail__startswith="INVALID_ARGUMENT: ").count() == 2
    assert not streams.filter(outcome="failed").exists()


def test_stream_file_refuses_links_and_files_changed_since_the_scan(grpc_server, alice, workers):
    source = grpc_server.sources_root / "case-changed"
    photos(source, range(2))
    (source / "link.jpg").symlink_to(source / "img_00000.jpg")
    job = job_create(name="changed", source_path=source, owner=alice.user, stages=["exif"])
    job_start(job=job)
    assert finished(job).status == Job.Status.COMPLETED
    link = FileInstance.objects.get(job=job, path="link.jpg")
    error = rpc_error(alice.jobs.StreamFile, pb.StreamFileRequest(file_id=link.pk))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION

    # Same size, same inode, other bytes: only the hash can tell, after the bytes went out.
    first = source / "img_00000.jpg"
    data = bytearray(first.read_bytes())
    data[-10] ^= 0xFF
    with open(first, "r+b") as out:
        out.write(data)
    error = rpc_error(
        alice.jobs.StreamFile, pb.StreamFileRequest(file_id=FileInstance.objects.get(job=job, path="img_00000.jpg").pk)
    )
    assert error.code() == grpc.StatusCode.DATA_LOSS
    failed = AuditEvent.objects.filter(action="file.stream", outcome="failed", user_id=alice.user.pk)
    assert [e.detail.split(":")[0] for e in failed.order_by("id")] == ["FAILED_PRECONDITION", "DATA_LOSS"]
    # Another size: refused before anything is sent.
    with open(source / "img_00001.jpg", "ab") as out:
        out.write(b"appended")
    error = rpc_error(
        alice.jobs.StreamFile, pb.StreamFileRequest(file_id=FileInstance.objects.get(job=job, path="img_00001.jpg").pk)
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "changed since the scan" in error.details()
