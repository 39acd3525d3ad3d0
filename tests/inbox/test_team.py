"""Claims, comments and bulk decisions through HTTP (a CSRF-checking client), and the list's
fixed query count with quorum, claim and escalation shown on its rows."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inbox.models import DecisionRecord, Note, Request, RequestStatus
from tests.inbox.test_list import LIST_QUERIES, bulk_waiting, rows

pytestmark = pytest.mark.django_db


def signed_in(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def post(client, url, data):
    """A browser post: the CSRF token from a page, as the form carries it."""
    page = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


def test_browser_posts_need_the_csrf_token(make_user, make_request):
    req = make_request()
    client = signed_in(make_user("alice"))
    assert client.post(f"/requests/{req.id}/comment/", {"text": "hi"}).status_code == 403
    assert client.post("/bulk/", {"pick": f"{req.id}:0", "choice": "approve"}).status_code == 403
    assert client.post(f"/requests/{req.id}/claim/", {}).status_code == 403
    assert not Note.objects.exists()


def test_sign_in_and_the_reviewer_permission_guard_every_team_view(client, make_user, make_request):
    req = make_request()
    for url in (f"/requests/{req.id}/comment/", f"/requests/{req.id}/claim/", "/bulk/"):
        assert client.post(url).status_code == 302  # to the sign-in page
    outsider = Client()
    outsider.force_login(make_user("mallory", reviewer=False))
    for url in (f"/requests/{req.id}/comment/", f"/requests/{req.id}/claim/", "/bulk/"):
        assert outsider.post(url).status_code == 403


def test_comments_are_part_of_the_history_and_rendered_inert(make_user, make_request):
    req = make_request()
    alice = signed_in(make_user("alice"))
    response = post(alice, f"/requests/{req.id}/comment/", {"text": "<script>alert(1)</script> check the PO"})
    assert response.status_code == 302
    html = alice.get(f"/requests/{req.id}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; check the PO" in html and "<script>alert" not in html
    assert [(n.kind, n.author_name) for n in Note.objects.filter(request=req)] == [("comment", "alice")]
    assert post(alice, f"/requests/{req.id}/comment/", {"text": "  "}).status_code == 302
    assert Note.objects.count() == 1


def test_a_claim_shows_who_holds_it_expires_and_leaves_deciding_open(make_user, make_request, settings):
    req = make_request()
    alice, bob = signed_in(make_user("alice")), signed_in(make_user("bob"))
    post(alice, f"/requests/{req.id}/claim/", {"action": "claim"})
    assert '<span class="claim">alice is on it</span>' in bob.get("/").content.decode()
    page = bob.get(f"/requests/{req.id}/").content.decode()
    assert "alice is on it (until" in page and 'id="approve-button"' in page
    post(bob, f"/requests/{req.id}/claim/", {"action": "claim"})
    assert "alice is on it until" in bob.get(f"/requests/{req.id}/").content.decode()  # the refusal, as a message
    assert Request.objects.get(id=req.id).claimed_by == "alice"
    # Expired, it is anyone's again.
    Request.objects.filter(id=req.id).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert '<span class="claim">' not in bob.get("/").content.decode()
    post(bob, f"/requests/{req.id}/claim/", {"action": "claim"})
    post(bob, f"/requests/{req.id}/claim/", {"action": "release"})
    kinds = [(n.kind, n.author_name) for n in Note.objects.filter(request=req)]
    assert kinds == [("claimed", "alice"), ("claimed", "bob"), ("released", "bob")]


def test_bulk_decisions_are_each_audited_and_conflicts_reported_row_by_row(make_user, make_request):
    alice, bob = make_user("alice"), make_user("bob")
    free, taken, quorum, edited, assigned = (make_request(title=f"R{i}") for i in range(5))
    Request.objects.filter(id=quorum.id).update(approvals_needed=2)
    Request.objects.filter(id=edited.id).update(round=1)
    Request.objects.filter(id=assigned.id).update(assignee_kind="user", assignee_name="carol")
    from inbox.deciding import decide

    decide(taken.id, bob, "approve")  # meanwhile, someone else decided it
    picks = [f"{r.id}:0" for r in (free, taken, quorum, edited, assigned)]
    response = post(signed_in(alice), "/bulk/", {"pick": picks, "choice": "reject", "reason": "Budget freeze"})
    assert response.status_code == 200
    html = response.content.decode()
    done = dict(re.findall(r'data-request-id="([^"]+)" data-done="(yes|no)"', html))
    expected = {free: "yes", taken: "no", quorum: "yes", edited: "no", assigned: "no"}
    assert done == {str(r.id): value for r, value in expected.items()}
    assert "bob already approved this request" in html and "edited since you loaded the list" in html
    assert "assigned to user carol" in html
    records = DecisionRecord.objects.filter(reviewer_name="alice").order_by("request__title")
    assert [(r.request.title, r.choice, r.reason) for r in records] == [
        ("R0", "reject", "Budget freeze"),
        ("R2", "reject", "Budget freeze"),
    ]
    assert Request.objects.get(id=edited.id).status == RequestStatus.OPEN


def test_bulk_reject_needs_a_reason_and_a_selection(make_user, make_request):
    req = make_request()
    alice = signed_in(make_user("alice"))
    assert post(alice, "/bulk/", {"pick": f"{req.id}:0", "choice": "reject"}).status_code == 400
    response = post(alice, "/bulk/", {"choice": "approve"})
    assert response.status_code == 400 and "Select at least one request" in response.content.decode()
    assert not DecisionRecord.objects.exists()


def test_the_list_shows_quorum_claims_and_escalation_in_a_fixed_number_of_queries(
    reviewer_client, django_assert_num_queries
):
    bulk_waiting(30)
    ids = list(Request.objects.order_by("deadline").values_list("id", flat=True)[:3])
    later = timezone.now() + timedelta(minutes=20)
    Request.objects.filter(id=ids[0]).update(approvals_needed=2, approvals=["bob"])
    Request.objects.filter(id=ids[1]).update(claimed_by="carol", claimed_until=later)
    Request.objects.filter(id=ids[2]).update(escalated_at=timezone.now(), assignee_kind="group", assignee_name="Leads")
    with django_assert_num_queries(LIST_QUERIES):
        html = reviewer_client.get("/").content.decode()
    assert len(rows(html)) == 25
    assert "1 of 2 approvals: bob" in html and "carol is on it" in html and ">escalated</span>" in html
    assert html.count('class="bulk-pick"') == 25


def test_the_page_shows_the_quorum_who_approved_and_then_every_approver(make_user, make_request):
    alice, bob = make_user("alice"), make_user("bob")
    req = make_request(approvals_needed=2, requester="carol")
    from inbox.deciding import decide

    decide(req.id, bob, "approve")
    page = signed_in(alice).get(f"/requests/{req.id}/").content.decode()
    assert "1 of 2 approvals: bob." in page and "carol asked for it and cannot approve" in page
    assert "bob</strong> · approval (round 1)" in page  # in the request's history
    assert "You approved it" not in page
    mine = signed_in(bob).get(f"/requests/{req.id}/").content.decode()
    assert "You approved it; it waits for another reviewer." in mine
    carol = signed_in(make_user("carol"))
    own = carol.get(f"/requests/{req.id}/").content.decode()
    assert "You asked for this request: another reviewer decides it." in own
    decide(req.id, alice, "approve")
    page = signed_in(alice).get(f"/requests/{req.id}/").content.decode()
    assert '<span id="decided-by">bob, alice</span>' in page
    decided = signed_in(alice).get("/?tab=decided").content.decode()
    assert "by bob, alice," in decided


def test_the_history_tab_keeps_comments_approvals_and_every_approver(make_user, make_request):
    alice, bob = make_user("alice"), make_user("bob")
    req = make_request(approvals_needed=2)
    from inbox.deciding import decide
    from inbox.discussion import comment

    comment(req.id, bob, "Checked the PO")
    decide(req.id, bob, "approve")
    decide(req.id, alice, "approve")
    html = signed_in(alice).get(f"/requests/{req.id}/?tab=history").content.decode()
    assert '<dd class="history-approvers">bob, alice</dd>' in html
    assert re.findall(r'data-kind="(\w+)"', html) == ["comment", "approval", "approval"]
    assert "Checked the PO" in html
