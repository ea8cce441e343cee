"""CaseService and ReviewService over gRPC, with a real server: a case the caller is no member of is NOT_FOUND for
every call, as a job is; members are managed by the lead and staff only; a reviewer changes nothing (refused and on
the record once); four eyes hold over the API as in the web app; an image is one of the case only when its jobs
found it, and any other is NOT_FOUND the same way, whether another case holds it or none."""

from __future__ import annotations

import grpc
import pytest
from allauth.account.models import EmailAddress
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from cases.models import Case
from cases.services import case_create, case_member_set
from imagescanner.v1 import cases_pb2 as cpb
from imagescanner.v1 import review_pb2 as rpb
from review.models import Categorisation
from tests.support.bulk import image
from tests.support.grpc import rpc_error
from tests.support.review import images_in_case

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LAB = cpb.CaseKey(reference="2024-017")


def _sha(n: int) -> str:
    return image(n)["sha256"]


def _refusals(action: str, user) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, user_id=user.pk, outcome=AuditEvent.Outcome.REFUSED))


def test_case_calls_show_a_case_to_its_members_and_let_its_lead_and_staff_manage_them(client_as):
    alice, bob, carol, dave = (client_as(f"{n}@example.org") for n in ("alice", "bob", "carol", "dave"))
    staff = client_as("erin@example.org", staff=True)
    made = alice.cases.CreateCase(
        cpb.CreateCaseRequest(reference=" 2024-017 ", title="Op. Example", scheme="Project VIC")
    )
    assert (made.reference, made.title, made.scheme, made.role) == (
        "2024-017", "Op. Example", "Project VIC", cpb.CASE_ROLE_LEAD,
    )  # fmt: skip
    assert [c.code for c in made.categories] == ["0", "1", "2", "3", "4", "5"]
    assert [(m.email, m.role) for m in made.members] == [("alice@example.org", cpb.CASE_ROLE_LEAD)]
    assert AuditEvent.objects.get(action="case.create", target="2024-017").user_id == alice.user.pk
    for refused in (
        cpb.CreateCaseRequest(reference="2024-017"),  # in use
        cpb.CreateCaseRequest(reference="job-12"),  # a single job's own case
        cpb.CreateCaseRequest(reference="2024-018", scheme="No such scheme"),
        cpb.CreateCaseRequest(reference=""),
    ):
        assert rpc_error(alice.cases.CreateCase, refused).code() == grpc.StatusCode.INVALID_ARGUMENT, refused
    assert Case.objects.count() == 1

    # Members: the lead adds them by an address the user verified (a claim names nobody); an id names only a member
    # (or anyone, for staff): a lead does not learn who an account is by guessing its id.
    by_id = cpb.SetCaseMemberRequest(case=LAB, user_id=bob.user.pk, role=cpb.CASE_ROLE_EXAMINER)
    assert rpc_error(alice.cases.SetCaseMember, by_id).code() == grpc.StatusCode.NOT_FOUND
    staff.cases.SetCaseMember(by_id)
    EmailAddress.objects.create(user=carol.user, email="carol@example.org", verified=True, primary=True)
    EmailAddress.objects.create(user=dave.user, email="dave@example.org", verified=False, primary=True)
    unverified = cpb.SetCaseMemberRequest(case=LAB, email="dave@example.org", role=cpb.CASE_ROLE_REVIEWER)
    assert rpc_error(alice.cases.SetCaseMember, unverified).code() == grpc.StatusCode.NOT_FOUND
    case = alice.cases.SetCaseMember(
        cpb.SetCaseMemberRequest(case=LAB, email="CAROL@example.org", role=cpb.CASE_ROLE_REVIEWER)
    )
    assert [(m.username, m.role) for m in case.members] == [
        ("alice", cpb.CASE_ROLE_LEAD), ("bob", cpb.CASE_ROLE_EXAMINER), ("carol", cpb.CASE_ROLE_REVIEWER),
    ]  # fmt: skip

    # Every member sees it, with their role; staff see every case; anyone else sees nothing of it.
    lab = Case.objects.get(reference="2024-017")
    for client, role in ((alice, cpb.CASE_ROLE_LEAD), (bob, cpb.CASE_ROLE_EXAMINER), (carol, cpb.CASE_ROLE_REVIEWER)):
        assert [(c.reference, c.role) for c in client.cases.ListCases(cpb.ListCasesRequest()).cases] == [
            ("2024-017", role)
        ]
        assert client.cases.GetCase(cpb.GetCaseRequest(case=cpb.CaseKey(id=lab.pk))).reference == "2024-017"
    assert [c.reference for c in staff.cases.ListCases(cpb.ListCasesRequest()).cases] == ["2024-017"]
    assert staff.cases.GetCase(cpb.GetCaseRequest(case=LAB)).role == cpb.CASE_ROLE_UNSPECIFIED
    assert list(dave.cases.ListCases(cpb.ListCasesRequest()).cases) == []
    nowhere = cpb.CaseKey(reference="2024-404")
    for key in (LAB, cpb.CaseKey(id=lab.pk), nowhere):
        for call, request in [
            (dave.cases.GetCase, cpb.GetCaseRequest(case=key)),
            (dave.cases.SetCaseMember, cpb.SetCaseMemberRequest(case=key, user_id=dave.user.pk, role=1)),
            (dave.cases.RemoveCaseMember, cpb.RemoveCaseMemberRequest(case=key, user_id=bob.user.pk)),
            (dave.review.ListCategories, rpb.ListCategoriesRequest(case=key)),
            (dave.review.ListDecisions, rpb.ListDecisionsRequest(case=key)),
            (dave.review.SetCategory, rpb.SetCategoryRequest(case=key, category="5", images={"sha256": [_sha(1)]})),
            (dave.review.ConfirmCategory, rpb.ConfirmCategoryRequest(case=key, images={"sha256": [_sha(1)]})),
            (dave.review.GetCategoryHistory, rpb.GetCategoryHistoryRequest(case=key, sha256=_sha(1))),
        ]:
            error = rpc_error(call, request)
            assert error.code() == grpc.StatusCode.NOT_FOUND, (call, key)
            assert error.details() in ("no case 2024-017", f"no case {lab.pk}", "no case 2024-404")

    # Only the lead and staff change the members; a case keeps its lead.
    for client in (bob, carol):
        request = cpb.SetCaseMemberRequest(case=LAB, user_id=dave.user.pk, role=cpb.CASE_ROLE_REVIEWER)
        assert rpc_error(client.cases.SetCaseMember, request).code() == grpc.StatusCode.PERMISSION_DENIED
        remove = cpb.RemoveCaseMemberRequest(case=LAB, user_id=carol.user.pk)
        assert rpc_error(client.cases.RemoveCaseMember, remove).code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(_refusals("api.SetCaseMember", bob.user)) == 0  # recorded under the action it asked for
    assert len(_refusals("case.member.set", bob.user)) == 1
    last_lead = cpb.RemoveCaseMemberRequest(case=LAB, user_id=alice.user.pk)
    assert rpc_error(alice.cases.RemoveCaseMember, last_lead).code() == grpc.StatusCode.FAILED_PRECONDITION
    case = staff.cases.RemoveCaseMember(cpb.RemoveCaseMemberRequest(case=LAB, user_id=carol.user.pk))
    assert [m.username for m in case.members] == ["alice", "bob"]
    assert rpc_error(carol.cases.GetCase, cpb.GetCaseRequest(case=LAB)).code() == grpc.StatusCode.NOT_FOUND
    gone = cpb.RemoveCaseMemberRequest(case=LAB, user_id=carol.user.pk)
    assert rpc_error(alice.cases.RemoveCaseMember, gone).code() == grpc.StatusCode.NOT_FOUND


def test_categories_over_grpc_keep_four_eyes_the_reviewer_read_only_and_other_cases_images_out(client_as, grpc_server):
    alice, bob, carol, dave = (client_as(f"{n}@example.org") for n in ("alice", "bob", "carol", "dave"))
    source = grpc_server.sources_root
    alice.cases.CreateCase(cpb.CreateCaseRequest(reference="2024-017", scheme="Project VIC"))
    lab = Case.objects.get(reference="2024-017")
    case_member_set(case=lab, user=bob.user, role="examiner")
    case_member_set(case=lab, user=carol.user, role="reviewer")
    job, pictures = images_in_case(case=lab, owner=alice.user, source=source, numbers=range(1, 4))
    other = case_create(reference="2024-099", title="another", owner=dave.user)
    images_in_case(case=other, owner=dave.user, source=source, numbers=range(9, 10))
    assert alice.cases.GetCase(cpb.GetCaseRequest(case=LAB)).job_ids == [job.pk]

    categories = carol.review.ListCategories(rpb.ListCategoriesRequest(case=LAB))
    assert categories.scheme == "Project VIC"
    assert [(c.code, c.needs_confirmation) for c in categories.categories][:3] == [
        ("0", False), ("1", True), ("2", True),
    ]  # fmt: skip

    # Alice proposes category 1 (it needs confirmation); she may not confirm it herself, Bob may.
    proposed = alice.review.SetCategory(
        rpb.SetCategoryRequest(case=LAB, category="1", images={"sha256": [_sha(1).upper(), _sha(2)]})
    )
    assert (proposed.changed, proposed.proposed, proposed.unchanged) == (2, 2, 0)
    own = alice.review.ConfirmCategory(rpb.ConfirmCategoryRequest(case=LAB, images={"image_ids": [pictures[0].pk]}))
    assert (own.confirmed, own.refused) == (0, 1)
    assert len(_refusals("review.category.confirm", alice.user)) == 1
    confirmed = bob.review.ConfirmCategory(rpb.ConfirmCategoryRequest(case=LAB, images={"sha256": [_sha(1)]}))
    assert (confirmed.confirmed, confirmed.refused) == (1, 0)
    statuses = dict(Categorisation.objects.filter(case=lab).values_list("image_id", "status"))
    assert statuses == {pictures[0].pk: "confirmed", pictures[1].pk: "proposed"}

    # The reviewer changes nothing: PERMISSION_DENIED, on the record once (by the service that refused).
    request = rpb.SetCategoryRequest(case=LAB, category="5", images={"sha256": [_sha(3)]})
    denied = rpc_error(carol.review.SetCategory, request)
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    refusals = _refusals("review.category.set", carol.user)
    assert [(e.via, e.target, e.detail) for e in refusals] == [("grpc", "2024-017", denied.details())]
    confirm = rpb.ConfirmCategoryRequest(case=LAB, images={"sha256": [_sha(2)]})
    assert rpc_error(carol.review.ConfirmCategory, confirm).code() == grpc.StatusCode.PERMISSION_DENIED

    # A code the scheme lacks is INVALID_ARGUMENT; so is a SHA-256 that is none, or no image at all.
    unknown = rpc_error(bob.review.SetCategory, rpb.SetCategoryRequest(case=LAB, category="A", images=request.images))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(_refusals("review.category.set", bob.user)) == 1
    for images in ({"sha256": ["not-a-digest"]}, {}):
        wrong = rpb.SetCategoryRequest(case=LAB, category="5", images=images)
        assert rpc_error(bob.review.SetCategory, wrong).code() == grpc.StatusCode.INVALID_ARGUMENT

    # An image of another case is NOT_FOUND exactly as one that exists nowhere, and nothing of the call is applied.
    elsewhere, nowhere = _sha(9), "f" * 64
    for digest in (elsewhere, nowhere):
        call = rpb.SetCategoryRequest(case=LAB, category="5", images={"sha256": [_sha(3), digest]})
        error = rpc_error(bob.review.SetCategory, call)
        assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, f"no image {digest} in case 2024-017")
        history = rpb.GetCategoryHistoryRequest(case=LAB, sha256=digest)
        assert rpc_error(bob.review.GetCategoryHistory, history).code() == grpc.StatusCode.NOT_FOUND
    outsider = images_in_case(case=other, owner=dave.user, source=source, numbers=range(10, 11))[1][0]
    by_id = rpb.ListDecisionsRequest(case=LAB, images={"image_ids": [outsider.pk]})
    assert rpc_error(bob.review.ListDecisions, by_id).code() == grpc.StatusCode.NOT_FOUND
    assert not Categorisation.objects.filter(case=lab, image=pictures[2]).exists()

    # What the case records, for named images and page by page.
    named = bob.review.ListDecisions(rpb.ListDecisionsRequest(case=LAB, images={"sha256": [_sha(2), _sha(1)]}))
    assert [(d.sha256, d.category, d.status, d.set_by, d.confirmed_by) for d in named.decisions] == [
        (_sha(1), "1", rpb.CATEGORY_STATUS_CONFIRMED, "alice@example.org", "bob@example.org"),
        (_sha(2), "1", rpb.CATEGORY_STATUS_PROPOSED, "alice@example.org", ""),
    ]
    assert named.next_page_token == ""
    first = carol.review.ListDecisions(rpb.ListDecisionsRequest(case=LAB, page_size=2))
    assert [d.image_id for d in first.decisions] == [p.pk for p in pictures[:2]]
    assert first.next_page_token
    rest = carol.review.ListDecisions(rpb.ListDecisionsRequest(case=LAB, page_size=2, page_token=first.next_page_token))
    assert [(d.image_id, d.category) for d in rest.decisions] == [(pictures[2].pk, "")]
    assert rest.next_page_token == ""
    decided = carol.review.ListDecisions(rpb.ListDecisionsRequest(case=LAB, decided_only=True))
    assert [d.image_id for d in decided.decisions] == [p.pk for p in pictures[:2]]
    elsewhere_token = rpb.ListDecisionsRequest(case=LAB, decided_only=True, page_token=first.next_page_token)
    assert rpc_error(carol.review.ListDecisions, elsewhere_token).code() == grpc.StatusCode.INVALID_ARGUMENT

    history = carol.review.GetCategoryHistory(rpb.GetCategoryHistoryRequest(case=LAB, image_id=pictures[0].pk))
    assert history.sha256 == _sha(1)
    assert [(c.action, c.before, c.after, c.after_status, c.user) for c in history.changes] == [
        ("set", "", "1", "proposed", "alice@example.org"),
        ("confirm", "1", "1", "confirmed", "bob@example.org"),
    ]


REFUSED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}
# Text a protobuf string can carry (valid UTF-8: no lone surrogates), NUL and every other character included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def _answered(call, request) -> None:
    """Fails the test when `call` ends with any code but OK and the refusals (UNKNOWN: a fault of the server's)."""
    code, details = grpc.StatusCode.OK, ""
    try:
        call(request, timeout=30)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
    assert code in {grpc.StatusCode.OK, *REFUSED}, (request, code, details)


@pytest.fixture
def led(alice) -> None:
    alice.cases.CreateCase(cpb.CreateCaseRequest(reference="2024-017"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(text, min_size=6, max_size=6), number=int64)
@example(words=["\x00", "2024-017\x00", "\x00@example.org", "\x00", "A" * 65, "\u202e"], number=2**63 - 1)
def test_malformed_text_and_ids_are_refused_as_the_clients_fault(alice, led, words, number):
    reference, other, email, code, digest, scheme = words
    for key in (cpb.CaseKey(reference=reference), cpb.CaseKey(id=number), LAB):
        for call, request in [
            (alice.cases.GetCase, cpb.GetCaseRequest(case=key)),
            (alice.cases.SetCaseMember, cpb.SetCaseMemberRequest(case=key, email=email, role=cpb.CASE_ROLE_REVIEWER)),
            (alice.cases.SetCaseMember, cpb.SetCaseMemberRequest(case=key, user_id=number, role=number % 2**31)),
            (alice.cases.RemoveCaseMember, cpb.RemoveCaseMemberRequest(case=key, user_id=number)),
            (alice.review.ListDecisions, rpb.ListDecisionsRequest(case=key, page_token=other, page_size=number % 999)),
            (alice.review.SetCategory, rpb.SetCategoryRequest(case=key, category=code, images={"sha256": [digest]})),
            (
                alice.review.SetCategory,
                rpb.SetCategoryRequest(case=key, category="pertinent", images={"image_ids": [number]}),
            ),
            (alice.review.ConfirmCategory, rpb.ConfirmCategoryRequest(case=key, images={"sha256": [digest, other]})),
            (alice.review.GetCategoryHistory, rpb.GetCategoryHistoryRequest(case=key, sha256=digest)),
        ]:
            _answered(call, request)
    for request in (
        cpb.CreateCaseRequest(reference=reference, title=other, scheme=scheme),
        cpb.CreateCaseRequest(reference=f"{reference}-x", description=other, scheme="General"),
    ):
        _answered(alice.cases.CreateCase, request)
