"""ReviewService: an adapter from gRPC to the review selectors and services. The case is checked as CaseService
checks it (NOT_FOUND for a case the caller is no member of); the images a request names are checked against the
images the case's jobs found (jobs.selectors.case_images_by_sha256 / case_images_by_id): any other is NOT_FOUND,
whether or not another case holds it. Who may change what (a reviewer nothing), four eyes and their audit records are
the review services'."""

from __future__ import annotations

import grpc

from api.auth import current_user
from api.cases_servicer import case_of_request, category_message
from api.errors import ApiError
from api.jobs_servicer import timestamp_message
from api.pagetokens import PageTokenError, page_token_decode, page_token_encode
from cases.models import Case
from cases.selectors import case_categories
from imagescanner.v1 import review_pb2 as pb
from imagescanner.v1 import review_pb2_grpc
from jobs.selectors import case_images_by_id, case_images_by_sha256, case_images_page
from review.models import Categorisation
from review.selectors import category_history, decisions, review_decided
from review.services import CategoryUnknown, ReviewOutcome, ReviewRefused, category_confirm, category_set

# The most images one call may name.
MAX_IMAGES = 10_000
MAX_PAGE = 500
STATUSES = {
    "": pb.CATEGORY_STATUS_UNSPECIFIED,
    Categorisation.Status.SET: pb.CATEGORY_STATUS_SET,
    Categorisation.Status.PROPOSED: pb.CATEGORY_STATUS_PROPOSED,
    Categorisation.Status.CONFIRMED: pb.CATEGORY_STATUS_CONFIRMED,
}


def _images(case: Case, selection: pb.ImageSelection) -> dict[int, str]:
    """Image id -> SHA-256 of the images `selection` names, every one an image of the case (INVALID_ARGUMENT for
    none, too many or a malformed SHA-256; NOT_FOUND when one is no image of the case, naming only what the caller
    sent)."""
    digests, ids = list(selection.sha256), set(selection.image_ids)
    if not digests and not ids:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name the images: by sha256 or image_ids")
    if len(digests) + len(ids) > MAX_IMAGES:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_IMAGES} images in one call")
    try:
        by_digest = case_images_by_sha256(case_id=case.pk, sha256s=digests)
    except ValueError as exc:
        raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    found = case_images_by_id(case_id=case.pk, image_ids=ids)
    missing = sorted({d.strip().lower() for d in digests} - set(by_digest)) + sorted(map(str, ids - set(found)))
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"no image {missing[0]}{more} in case {case.reference}")
    return found | {image_id: digest for digest, image_id in by_digest.items()}


def _outcome(outcome: ReviewOutcome) -> pb.ReviewOutcome:
    return pb.ReviewOutcome(
        changed=outcome.changed,
        proposed=outcome.proposed,
        confirmed=outcome.confirmed,
        unchanged=outcome.unchanged,
        refused=outcome.refused,
    )


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def ListCategories(self, request: pb.ListCategoriesRequest, context) -> pb.ListCategoriesResponse:
        case, _ = case_of_request(request.case)
        return pb.ListCategoriesResponse(
            scheme=case.scheme.name, categories=[category_message(c) for c in case_categories(case=case)]
        )

    def ListDecisions(self, request: pb.ListDecisionsRequest, context) -> pb.ListDecisionsResponse:
        case, _ = case_of_request(request.case)
        user = current_user()
        token = ""
        if request.images.sha256 or request.images.image_ids:
            if request.page_token:
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "a page_token pages the case's images: name none")
            images = sorted(_images(case, request.images).items())
        else:
            if not 0 <= request.page_size <= MAX_PAGE:
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be 1-{MAX_PAGE} (0 for 100)")
            size = request.page_size or 100
            scope = {"case": case.pk, "decided": request.decided_only}
            try:
                after = (
                    page_token_decode(request.page_token, listing="decisions", scope=scope) if request.page_token else 0
                )
            except PageTokenError as exc:
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"bad page_token: {exc}") from None
            where = review_decided(case=case) if request.decided_only else None
            images = case_images_page(case_id=case.pk, after=int(after), limit=size + 1, where=where)
            if len(images) > size:
                images = images[:size]
                token = page_token_encode(listing="decisions", scope=scope, key=images[-1][0])
        found = decisions(case=case, image_ids=[image_id for image_id, _ in images], user=user)
        answers = []
        for image_id, digest in images:
            decision = found.get(image_id)
            message = pb.Decision(image_id=image_id, sha256=digest)
            if decision is not None:
                message.MergeFrom(
                    pb.Decision(
                        category=decision.code, status=STATUSES[decision.status], set_by=decision.set_by,
                        confirmed_by=decision.confirmed_by, disputed=decision.disputed, bookmarks=decision.bookmarks,
                        bookmarked=decision.bookmarked, notes=decision.notes, reviewed=decision.reviewed,
                    )
                )  # fmt: skip
            answers.append(message)
        return pb.ListDecisionsResponse(decisions=answers, next_page_token=token)

    def SetCategory(self, request: pb.SetCategoryRequest, context) -> pb.ReviewOutcome:
        case, _ = case_of_request(request.case)
        if not request.category.strip() or "\x00" in request.category:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name a category: a code of the case's scheme")
        images = _images(case, request.images)
        try:
            outcome = category_set(case=case, user=current_user(), code=request.category.strip(), image_ids=images)
        except CategoryUnknown as exc:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc), recorded=True) from None
        except ReviewRefused as exc:
            raise ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), recorded=True) from None
        return _outcome(outcome)

    def ConfirmCategory(self, request: pb.ConfirmCategoryRequest, context) -> pb.ReviewOutcome:
        case, _ = case_of_request(request.case)
        images = _images(case, request.images)
        try:
            outcome = category_confirm(case=case, user=current_user(), image_ids=images)
        except ReviewRefused as exc:
            raise ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), recorded=True) from None
        return _outcome(outcome)

    def GetCategoryHistory(self, request: pb.GetCategoryHistoryRequest, context) -> pb.GetCategoryHistoryResponse:
        case, _ = case_of_request(request.case)
        which = request.WhichOneof("image")
        if which is None:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "name the image: by sha256 or image_id")
        selection = (
            pb.ImageSelection(sha256=[request.sha256])
            if which == "sha256"
            else pb.ImageSelection(image_ids=[request.image_id])
        )
        ((image_id, digest),) = _images(case, selection).items()
        changes = [
            pb.CategoryChange(
                action=change.action,
                before=change.before.code if change.before else "",
                before_status=change.before_status,
                after=change.after.code if change.after else "",
                after_status=change.after_status,
                user=change.user_label,
                time=timestamp_message(change.at),
            )
            for change in category_history(case=case, image_id=image_id)
        ]
        return pb.GetCategoryHistoryResponse(image_id=image_id, sha256=digest, changes=changes)
