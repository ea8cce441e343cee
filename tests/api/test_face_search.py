"""FaceService over gRPC: the faces most like a face, with the real default face pack's embeddings of real photos;
never a face of a case the caller is not in."""

from __future__ import annotations

import grpc
import pytest
from PIL import Image

from audit.models import AuditEvent
from content.models import Face
from imagescanner.v1 import faces_pb2 as pb
from jobs.lifecycle import job_start
from jobs.services import job_create
from tests.support.facesearch import jpeg, photo, store_real_faces, write_face_case
from tests.support.grpc import rpc_error
from tests.support.jobs import finished

pytestmark = pytest.mark.integration


def _scanned(folder, owner):
    job = job_create(name=folder.name, source_path=folder, owner=owner, stages=["exif", "faces"])
    job_start(job=job)
    finished(job)
    store_real_faces(job)
    return job


def _face(job, path: str) -> Face:
    return Face.objects.get(image__instances__job=job, image__instances__path=path)


def test_search_faces_over_grpc_never_answers_with_a_case_the_caller_is_not_in(
    grpc_server, alice, bob, workers, real_models, settings, fresh_registry
):
    settings.MODELS_ROOT = real_models
    write_face_case(grpc_server.sources_root / "alice-faces")
    alices = _scanned(grpc_server.sources_root / "alice-faces", alice.user)
    folder = grpc_server.sources_root / "bob-faces"
    folder.mkdir()
    astronaut = photo("people/astronaut.png")
    (folder / "a.jpg").write_bytes(jpeg(astronaut, quality=60))
    (folder / "b.jpg").write_bytes(jpeg(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=65))
    bobs = _scanned(folder, bob.user)
    hers = _face(alices, "astronaut.png")
    alike = {_face(alices, "astronaut-mirrored.png").pk, _face(alices, "astronaut-darker.jpg").pk}
    bob_a, bob_b = _face(bobs, "a.jpg"), _face(bobs, "b.jpg")

    reply = alice.faces.SearchFaces(pb.SearchFacesRequest(job_id=alices.pk, face_id=hers.pk, everywhere=True))
    assert {m.face_id for m in reply.matches} == alike
    assert all(m.same_person and m.job_id == alices.pk and m.similarity > 0.363 for m in reply.matches)
    ranked = alice.faces.SearchFaces(pb.SearchFacesRequest(job_id=alices.pk, face_id=hers.pk, below_threshold=True))
    assert len(ranked.matches) > 10
    assert [m.similarity for m in ranked.matches] == sorted((m.similarity for m in ranked.matches), reverse=True)
    reply = bob.faces.SearchFaces(pb.SearchFacesRequest(job_id=bobs.pk, face_id=bob_a.pk, everywhere=True, top=50))
    assert [m.face_id for m in reply.matches] == [bob_b.pk]

    # Alice's job or face, named by Bob: NOT_FOUND, as for one that does not exist.
    error = rpc_error(bob.faces.SearchFaces, pb.SearchFacesRequest(job_id=alices.pk, face_id=hers.pk))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, f"no job {alices.pk}")
    error = rpc_error(bob.faces.SearchFaces, pb.SearchFacesRequest(job_id=bobs.pk, face_id=hers.pk))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, f"no face {hers.pk} in job {bobs.pk}")
    # A reference photo: refused when it is not an image or too large; the server has no face pack installed.
    error = rpc_error(alice.faces.SearchFaces, pb.SearchFacesRequest(job_id=alices.pk, reference_photo=b"%PDF-1.4\n"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an image this software opens (application/pdf)" in error.details()
    too_large = pb.SearchFacesRequest(job_id=alices.pk, reference_photo=b"\xff\xd8\xff" + bytes(20 * 2**20))
    error = rpc_error(alice.faces.SearchFaces, too_large)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "the reference photo is 20.0 MB; the most accepted is 20 MB"
    )  # fmt: skip
    error = rpc_error(
        alice.faces.SearchFaces, pb.SearchFacesRequest(job_id=alices.pk, reference_photo=bytes(50 * 2**20))
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    error = rpc_error(alice.faces.SearchFaces, pb.SearchFacesRequest(job_id=alices.pk, reference_photo=jpeg(astronaut)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "manage.py models install" in error.details()
    assert AuditEvent.objects.filter(action="faces.search", via="grpc", outcome="ok").count() == 3
