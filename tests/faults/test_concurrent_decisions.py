"""50 reviewers decide one inbox request at the same instant, over real HTTP: exactly one decision
is recorded and reaches the agent; the other 49 get 409 naming who decided first; nothing is lost."""

import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import reverse

import durable
from durable.models import Message
from inbox.models import INBOX_TOPIC, DecisionRecord, Request, RequestStatus
from inbox.reviewers import ensure_reviewers_group
from tests.faults.conftest import wait_for
from tests.inbox import workflows as inbox_agents

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REVIEWERS = 50


def signed_in_headers(user) -> dict[str, str]:
    """The headers a browser tab of ``user`` sends with an htmx POST: session, CSRF cookie and token."""
    client = Client()
    client.force_login(user)
    csrf = _get_new_csrf_string()
    return {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "HX-Request": "true",
    }


def post(url: str, headers: dict[str, str], data: dict) -> tuple[int, str]:
    request = urllib.request.Request(url, urllib.parse.urlencode(data).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def decision_for(i: int, digest: str) -> dict:
    """A mix of what 50 reviewers would click: approvals, rejections, answers, edits."""
    kinds = [
        {"choice": "approve"},
        {"choice": "reject", "reason": f"no, says reviewer {i}"},
        {"choice": "respond", "response": f"answer {i}"},
        {"choice": "edit", "arguments_json": f'{{"amount": {i}, "currency": "EUR", "express": true}}'},
    ]
    return {**kinds[i % 4], "shown": digest}


def test_fifty_simultaneous_decisions_yield_exactly_one(worker, http_server, scenario_report):
    group = ensure_reviewers_group()
    users = [User.objects.create_user(f"reviewer{i:02d}") for i in range(REVIEWERS)]
    for user in users:
        user.groups.add(group)
    handle = durable.start(inbox_agents.asker)
    req = wait_for(
        lambda: Request.objects.filter(run_id=handle.id, status=RequestStatus.OPEN).first(), 30, "the request"
    )
    wait_for(lambda: durable.retrieve(handle.id).status() == "WAITING", 30, "the agent to wait")
    url = http_server + reverse("inbox:decide", args=[req.id])
    browsers = [signed_in_headers(user) for user in users]
    digest = req.shown_digest()

    barrier = threading.Barrier(REVIEWERS)
    responses: list[tuple[int, str] | None] = [None] * REVIEWERS

    def click(i: int) -> None:
        barrier.wait()
        responses[i] = post(url, browsers[i], decision_for(i, digest))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(REVIEWERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(code in (200, 409) for code, _ in responses), [r for r in responses if r[0] not in (200, 409)][:2]
    summary = handle.result(timeout=30)

    codes = sorted(code for code, _ in responses)
    record = DecisionRecord.objects.get()
    losers = [body for code, body in responses if code == 409]
    named = sum(f"{record.reviewer_name} already {record.verb} this request" in body for body in losers)
    messages = Message.objects.filter(destination_id=handle.id, topic=INBOX_TOPIC)
    scenario_report(
        requests=REVIEWERS,
        ok=codes.count(200),
        conflict_409=codes.count(409),
        other=len([c for c in codes if c not in (200, 409)]),
        decisions_recorded=DecisionRecord.objects.count(),
        messages_to_agent=messages.count(),
        losers_told_who_won=named,
        data_lost=int(summary["reviewer"] != record.reviewer_name),
    )
    assert codes == [200] + [409] * (REVIEWERS - 1), codes
    assert named == REVIEWERS - 1, "every loser is told who decided first"
    assert messages.count() == 1 and messages.get().consumed_at is not None
    assert summary["reviewer"] == record.reviewer_name
    assert (
        summary["outcome"]
        == {"approve": "approved", "reject": "rejected", "respond": "responded", "edit": "edited"}[record.choice]
    )
    winner = int(record.reviewer_name.removeprefix("reviewer"))
    expected = decision_for(winner, digest)
    assert (record.reason, record.response) == (expected.get("reason", ""), expected.get("response", ""))
    assert Request.objects.get(id=req.id).status == RequestStatus.DECIDED
