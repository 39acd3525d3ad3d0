"""The demo agents on the offline model, driven through the inbox views like a reviewer would."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from pydantic_ai.models.function import FunctionModel

import durable
from durable.models import WorkflowRun
from inbox.agents import KINDS, start_agents
from inbox.agents.common import demo_agent
from inbox.agents.deploy import deploy_agent
from inbox.agents.mail import email_agent
from inbox.agents.refund import refund_agent
from inbox.agents.triage import triage_agent
from inbox.models import Request
from tests.conftest import post_decision
from tests.inbox.conftest import start_and_wait, wait_for, waiting_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_refund_agent_refunds_what_the_reviewer_edited(worker, reviewer_client):
    handle, req = start_and_wait(
        refund_agent, order_id="A-1000", customer="ana@example.com", complaint="It arrived broken"
    )
    assert req.action == "issue_refund" and req.schema["properties"]["amount"]["maximum"] > 0
    proposed = req.arguments["amount"]
    # The edit form keeps the amount a number; the schema caps it at the order total.
    too_much = reviewer_client.post(
        reverse("inbox:edit", args=[req.id]),
        {"mode": "fields", "arg.order_id": "A-1000", "arg.amount": "100000", "arg.currency": "EUR", "arg.note": "x"},
    )
    assert too_much.status_code == 400 and "amount must be at most" in too_much.content.decode()
    edited = dict(req.arguments, amount=round(proposed / 3, 2), note="Partial refund, agreed by phone")
    assert post_decision(reviewer_client, req, "edit", arguments_json=json.dumps(edited)).status_code == 302
    result = handle.result(timeout=15)
    assert result["status"] == "refunded" and result["outcome"] == "edited"
    assert result["receipt"]["amount"] == edited["amount"] != proposed


def test_triage_agent_credits_what_the_reviewer_edited(worker, reviewer_client):
    text = "We were charged twice for March, please fix the invoice."
    handle, req = start_and_wait(triage_agent, ticket_id="1234", customer="ana@example.com", text=text)
    assert req.action == "issue_credit" and "charged twice" in req.body_markdown
    cap = req.schema["properties"]["amount"]["maximum"]
    edited = dict(req.arguments, amount=round(cap / 4, 2))
    assert post_decision(reviewer_client, req, "edit", arguments_json=json.dumps(edited)).status_code == 302
    result = handle.result(timeout=15)
    assert result["status"] == "done" and result["outcome"] == "edited"
    assert result["done"] == {"action": "issue_credit", **edited, "reference": "T-1234"}


def test_triage_agent_escalates_an_outage_only_if_approved(worker, reviewer_client):
    text = "The dashboard is down for our whole team, urgent!"
    handle, req = start_and_wait(triage_agent, ticket_id="77", customer="bo@example.com", text=text)
    assert (req.action, req.arguments["team"], req.choices) == ("escalate", "on-call", ["approve", "reject", "edit"])
    assert post_decision(reviewer_client, req, "reject", reason="a known incident").status_code == 302
    assert handle.result(timeout=15) == {"status": "not done", "outcome": "rejected", "reason": "a known incident"}


def test_refund_agent_declines_on_reject(worker, reviewer_client):
    handle, req = start_and_wait(refund_agent, order_id="A-1001", customer="bo@example.com", complaint="Wrong colour")
    assert post_decision(reviewer_client, req, "reject", reason="Colour matches the photo").status_code == 302
    result = handle.result(timeout=15)
    assert result == {"status": "declined", "outcome": "rejected", "reason": "Colour matches the photo"}


def test_deploy_agent_needs_approval_within_a_day_and_rejects_on_expiry(worker, reviewer_client):
    handle, req = start_and_wait(deploy_agent, service="billing", version="v1.2.3")
    assert req.choices == ["approve", "reject"] and req.on_expiry == "reject"
    assert abs((req.deadline - timezone.now()) - timedelta(days=1)) < timedelta(minutes=1)
    run = WorkflowRun.objects.get(id=handle.id)
    assert abs((run.wait_until - req.deadline).total_seconds()) < 5  # the engine holds the same deadline
    assert post_decision(reviewer_client, req, "approve").status_code == 302
    result = handle.result(timeout=15)
    assert result["status"] == "deployed" and "billing v1.2.3 is live on production (canary)" in result["log"]


def test_email_agent_redrafts_after_an_answer_then_sends(worker, reviewer_client):
    handle, first = start_and_wait(email_agent, sender="dana.lee@example.com", subject="Invoice", text="Wrong seats")
    assert (
        post_decision(reviewer_client, first, "respond", response="Tell her we refund the 2 extra seats.").status_code
        == 302
    )
    second = wait_for(lambda: Request.objects.filter(run_id=handle.id).exclude(id=first.id).first())
    second = waiting_request(handle.id)
    assert "(draft 2)" in second.title
    assert "Tell her we refund the 2 extra seats." in second.arguments["body"]
    assert post_decision(reviewer_client, second, "approve").status_code == 302
    result = handle.result(timeout=15)
    assert result["status"] == "sent" and "sent to dana.lee@example.com: Re: Invoice" in result["receipt"]


def test_email_agent_sends_the_edited_draft(worker, reviewer_client):
    handle, req = start_and_wait(email_agent, sender="sam@example.org", subject="Hi", text="Call?")
    edited = dict(req.arguments, body="Hello Sam, yes: Tuesday 10:00 works. Best, Support")
    assert post_decision(reviewer_client, req, "edit", arguments_json=json.dumps(edited)).status_code == 302
    result = handle.result(timeout=15)
    assert result["status"] == "sent" and f"({len(edited['body'])} characters)" in result["receipt"]


def test_the_offline_script_is_the_default_model_and_a_provider_is_a_setting(settings):
    settings.INBOX_MODEL = ""
    assert isinstance(demo_agent("x", lambda messages, info: None).model, FunctionModel)
    settings.INBOX_MODEL = "test"  # any Pydantic AI model string: "openai:gpt-5", "anthropic:..."
    agent = demo_agent("x", lambda messages, info: None)
    assert agent.model == "test" and agent.run_sync("hi").output == "success (no tool calls)"


def test_start_agent_command_and_form(client, make_user):
    call_command("start_agent", "deploy", "--count", "2")
    assert WorkflowRun.objects.filter(name="deploy_agent").count() == 2
    with pytest.raises(CommandError):
        call_command("start_agent", "refund", "--count", "0")
    client.force_login(make_user("alice"))
    page = client.get(reverse("inbox:start"))
    assert page.status_code == 200 and 'id="start-agent-form"' in page.content.decode()
    response = client.post(reverse("inbox:start"), {"kind": "email", "count": "3"})
    assert response.status_code == 302 and WorkflowRun.objects.filter(name="email_agent").count() == 3
    for bad in ({"kind": "nope", "count": "1"}, {"kind": "email", "count": "x"}, {"kind": "email", "count": "99"}):
        refused = client.post(reverse("inbox:start"), bad)
        assert refused.status_code == 400 and "Choose an agent" in refused.content.decode()
    assert WorkflowRun.objects.filter(name="email_agent").count() == 3


def test_every_kind_starts_and_reaches_the_inbox(worker):
    handles = [h for kind in KINDS for h in start_agents(kind, 1, seed=7)]
    for handle in handles:
        waiting_request(handle.id)
    assert Request.objects.waiting().count() == len(KINDS)
    assert durable.list_workflows(waiting_on="inbox").count() == len(KINDS)
