"""Quorum through the JSON API over real HTTP with a real worker: N distinct approvers, edits
reset, the requester excluded, and a race of two approvers and a rejecter giving one outcome."""

import threading

import pytest

import durable
from durable.models import Message
from inbox import tokens
from inbox.models import DecisionRecord, Note, Request, RequestStatus
from tests.inbox.api_client import call
from tests.inbox.conftest import start_and_wait
from tests.inbox.team_workflows import team_asker


@pytest.fixture
def team(make_user):
    """Four reviewers with API tokens: {name: token}."""
    return {name: tokens.create(make_user(name), "test") for name in ("alice", "bob", "carol", "dave")}


def api(live_server, req, suffix=""):
    return f"{live_server.url}/api/v1/requests/{req.id}/{suffix}"


def approve(live_server, req, token, shown=None):
    shown = shown or call(api(live_server, req), token)[1]["shown"]
    return call(api(live_server, req, "decide/"), token, {"choice": "approve", "shown": shown})


def test_two_distinct_approvals_wake_the_agent_once_with_both_approvers(live_server, worker, team):
    handle, req = start_and_wait(team_asker, approvals=2, requester="carol")
    status, body = approve(live_server, req, team["alice"])
    assert status == 200 and body["status"] == "open" and body["approvals"] == ["alice"]
    assert "1 of 2 approvals" in body["message"]
    # The same person twice counts once; the requester may not approve their own request.
    status, body = approve(live_server, req, team["alice"])
    assert status == 409 and "counts once" in body["error"]
    status, body = approve(live_server, req, team["carol"])
    assert status == 403
    assert handle.status() == "WAITING"
    status, body = approve(live_server, req, team["bob"])
    assert status == 200 and body["status"] == "decided" and body["decision"]["approvers"] == ["alice", "bob"]
    result = handle.result(timeout=30)
    assert result["outcome"] == "approved" and result["approvers"] == ["alice", "bob"]
    assert Message.objects.filter(destination_id=handle.id, topic="inbox").count() == 1
    assert [n.author_name for n in Note.objects.filter(request=req)] == ["alice", "bob"]


def test_an_edit_resets_the_approvals_and_the_agent_acts_on_the_edit(live_server, worker, team):
    handle, req = start_and_wait(team_asker, approvals=2)
    old = call(api(live_server, req), team["alice"])[1]["shown"]
    assert approve(live_server, req, team["alice"], old)[0] == 200
    edit = {"choice": "edit", "arguments": {"amount": 1000, "currency": "EUR"}, "shown": old}
    status, body = call(api(live_server, req, "decide/"), team["bob"], edit)
    assert status == 200 and body["approvals"] == ["bob"] and body["arguments"]["amount"] == 1000
    # Alice approved the old amount: her approval no longer counts, and her old view is refused.
    status, body = approve(live_server, req, team["alice"], old)
    assert status == 400 and "reload" in str(body["errors"])
    assert approve(live_server, req, team["alice"])[0] == 200
    result = handle.result(timeout=30)
    assert result["outcome"] == "edited" and result["arguments"] == {"amount": 1000, "currency": "EUR"}
    assert result["approvers"] == ["bob", "alice"]
    record = DecisionRecord.objects.get(request=req)
    assert record.arguments_before == {"amount": 1200, "currency": "EUR"} and record.choice == "edit"


def test_a_rejection_ends_a_quorum_with_its_reason(live_server, worker, team):
    handle, req = start_and_wait(team_asker, approvals=3)
    assert approve(live_server, req, team["alice"])[0] == 200
    shown = call(api(live_server, req), team["bob"])[1]["shown"]
    reject = {"choice": "reject", "reason": "No PO", "shown": shown}
    status, body = call(api(live_server, req, "decide/"), team["bob"], reject)
    assert status == 200 and body["status"] == "decided"
    result = handle.result(timeout=30)
    assert result["outcome"] == "rejected" and result["reason"] == "No PO" and result["approvers"] == []
    assert approve(live_server, req, team["carol"])[0] == 409


@pytest.mark.parametrize("round_", range(4))
def test_two_approvers_and_a_rejecter_at_once_give_one_outcome_all_audited(live_server, worker, team, round_):
    handle, req = start_and_wait(team_asker, approvals=2)
    shown = call(api(live_server, req), team["alice"])[1]["shown"]
    moves = {
        "alice": {"choice": "approve", "shown": shown},
        "bob": {"choice": "approve", "shown": shown},
        "carol": {"choice": "reject", "reason": "Too much", "shown": shown},
    }
    barrier = threading.Barrier(len(moves))
    answers = {}

    def go(name):
        barrier.wait()
        answers[name] = call(api(live_server, req, "decide/"), team[name], moves[name])

    threads = [threading.Thread(target=go, args=(name,)) for name in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    result = handle.result(timeout=30)
    statuses = {name: status for name, (status, _) in answers.items()}
    assert set(statuses.values()) <= {200, 409}, answers
    record = DecisionRecord.objects.get(request=req)  # exactly one decision
    accepted = sorted(name for name, status in statuses.items() if status == 200)
    audited = sorted({n.author_name for n in Note.objects.filter(request=req)} | {record.reviewer_name})
    assert accepted == audited  # every accepted click is in the audit trail, no refused one is
    if result["outcome"] == "approved":
        assert sorted(result["approvers"]) == ["alice", "bob"] and statuses["carol"] == 409
    else:
        assert result["outcome"] == "rejected" and result["reason"] == "Too much" and statuses["carol"] == 200
        assert record.reviewer_name == "carol" and len(accepted) <= 2
    assert Message.objects.filter(destination_id=handle.id, topic="inbox").count() == 1
    assert Request.objects.get(id=req.id).status == RequestStatus.DECIDED
    assert durable.retrieve(handle.id).status() == "SUCCESS"


def test_the_api_needs_a_valid_token_and_never_a_session(live_server, client, reviewer, make_request):
    req = make_request()
    assert call(f"{live_server.url}/api/v1/requests/")[0] == 401
    assert call(f"{live_server.url}/api/v1/requests/", "inbox_not-a-token")[0] == 401
    # A signed-in browser session does not authenticate the API (so CSRF exemption cannot be abused).
    client.force_login(reviewer)
    assert client.post(f"/api/v1/requests/{req.id}/decide/", {"choice": "approve"}).status_code == 401
    outsider = tokens.create(type(reviewer).objects.create_user("mallory"), "x")
    assert call(f"{live_server.url}/api/v1/requests/", outsider)[0] == 403
    token = tokens.create(reviewer, "bot")
    status, body = call(f"{live_server.url}/api/v1/requests/", token)
    assert status == 200 and [r["id"] for r in body["requests"]] == [str(req.id)]
    from inbox.models import ApiToken

    assert token not in str(list(ApiToken.objects.values_list("digest", "prefix")))  # stored hashed


def test_the_api_answers_in_json_for_unknown_requests_and_wrong_methods(live_server, reviewer):
    token = tokens.create(reviewer, "bot")
    missing = f"{live_server.url}/api/v1/requests/00000000-0000-0000-0000-000000000000/"
    status, body = call(missing, token)
    assert status == 404 and "No request has this id" in body["error"]
    assert call(missing + "decide/", token, {"choice": "approve"})[0] == 404
    assert call(missing + "decide/", token)[0] == 405
    status, body = call(f"{live_server.url}/api/v1/requests/", token, {"x": 1})
    assert status == 405 and "Use GET" in body["error"]


def test_manage_py_inbox_token_prints_a_working_token_once(live_server, reviewer, make_request):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("inbox_token", reviewer.username, "--name", "phone", stdout=out)
    token = out.getvalue().strip()
    req = make_request()
    status, body = call(f"{live_server.url}/api/v1/requests/{req.id}/", token)
    assert status == 200 and body["title"] == req.title and body["may_decide"] is True
    from inbox.models import ApiToken

    stored = ApiToken.objects.get(name="phone")
    assert stored.last_used_at is not None and token not in (stored.digest, stored.prefix)
