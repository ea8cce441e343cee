"""FaceService: an adapter from gRPC to jobs.search's face search. The job a request starts from is checked as
JobService checks it (NOT_FOUND for a job the caller may not see), and so is the face it names (a face of that
job); the jobs searched are those jobs.access lets the caller see."""

from __future__ import annotations

import grpc

from api.auth import current_user
from api.errors import ApiError
from audit.services import audit_record
from content.models import Face
from extractors.base import StageUnavailable
from imagescanner.v1 import faces_pb2 as pb
from imagescanner.v1 import faces_pb2_grpc
from jobs.access import job_get_for_user
from jobs.models import Job
from jobs.search import FaceQuery, ReferenceRefused, face_search_jobs, faces_like, reference_faces

MAX_TOP = 500


def _job(job_id: int) -> Job:
    try:
        return job_get_for_user(user=current_user(), job_id=job_id)
    except Job.DoesNotExist:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no job {job_id}") from None


class FaceServicer(faces_pb2_grpc.FaceServiceServicer):
    def SearchFaces(self, request: pb.SearchFacesRequest, context: grpc.ServicerContext) -> pb.SearchFacesResponse:
        job = _job(request.job_id)
        top = request.top or 20
        if not 0 < top <= MAX_TOP:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"top must be 1 to {MAX_TOP}")
        which = request.WhichOneof("query")
        if which == "face_id":
            face = Face.objects.filter(pk=request.face_id, image__job_images__job=job).select_related("result").first()
            if face is None:
                raise ApiError(grpc.StatusCode.NOT_FOUND, f"no face {request.face_id} in job {job.pk}")
            query = FaceQuery.of_face(face)
            if query is None:
                return pb.SearchFacesResponse()
        elif which == "reference_photo":
            try:
                found = reference_faces(data=request.reference_photo)
            except ReferenceRefused as exc:
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            except StageUnavailable as exc:
                raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"{exc} (fix: {exc.fix})") from None
            if not found or (len(found) > 1 and not request.choose):
                return pb.SearchFacesResponse(
                    faces=[
                        pb.ReferenceFace(number=f.index + 1, x=f.box[0], y=f.box[1], width=f.box[2], height=f.box[3],
                                         crop=f.crop)
                        for f in found
                    ]
                )  # fmt: skip
            if not 0 <= (request.choose or 1) - 1 < len(found):
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"choose must be 1 to {len(found)}")
            query = found[(request.choose or 1) - 1].query
        else:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name a face_id or send a reference_photo")
        jobs = face_search_jobs(user=current_user(), job=job, everywhere=request.everywhere)
        matches = faces_like(jobs=jobs, query=query, limit=top, matches_only=not request.below_threshold)
        audit_record(
            "faces.search", job_id=job.pk, target=f"face {query.face_id}" if query.face_id else "reference photo",
            scope="every job" if request.everywhere else "case", jobs=len(jobs), results=len(matches),
        )  # fmt: skip
        return pb.SearchFacesResponse(
            matches=[
                pb.FaceMatch(face_id=m.face_id, image_id=m.image_id, job_id=m.job_id, similarity=m.similarity,
                             same_person=m.same_person)
                for m in matches
            ]
        )  # fmt: skip
