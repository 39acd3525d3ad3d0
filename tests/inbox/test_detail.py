"""The request page: the agent's markdown and arguments, its activity from the engine, the history."""

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from durable import serialization
from inbox.activity import plain, shown
from inbox.deciding import decide
from inbox.models import RequestStatus
from tests.inbox import workflows as w
from tests.inbox.conftest import start_and_wait


def detail(client, req, query=""):
    response = client.get(reverse("inbox:detail", args=[req.id]) + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_detail_shows_markdown_arguments_deadline_and_the_forms(reviewer_client, make_request):
    req = make_request(
        body_markdown="# Why\n\nThe parcel was **crushed**.\n\n- item 1\n- item 2",
        arguments={"amount": 10, "nested": {"currency": "EUR"}},
        schema={"type": "object"},
        deadline=timedelta(hours=2),
    )
    html = detail(reviewer_client, req)
    assert "<h1>Why</h1>" in html and "<strong>crushed</strong>" in html and "<li>item 1</li>" in html
    assert "{\n  &quot;amount&quot;: 10,\n  &quot;nested&quot;: {\n    &quot;currency&quot;: &quot;EUR&quot;" in html
    assert 'id="request-schema"' in html
    assert "when it passes: reject" in html and 'class="countdown "' in html
    for element in ("approve-button", "reject-reason", "respond-text", "edit-form", "edit-json"):
        assert f'id="{element}"' in html
    assert 'name="arg.amount"' in html and 'data-json-type="number"' in html
    assert 'data-json-type="object"' in html
    assert f'value="{req.shown_digest()}"' in html


@pytest.mark.django_db
def test_only_the_decisions_the_agent_accepts_are_offered(reviewer_client, make_request):
    html = detail(reviewer_client, make_request(choices=["approve", "reject"]))
    assert 'id="approve-button"' in html and 'id="reject-button"' in html
    assert 'id="respond-form"' not in html and 'id="edit-form"' not in html


@pytest.mark.django_db
def test_act_parameter_focuses_the_chosen_control(reviewer_client, make_request):
    req = make_request()
    assert 'id="reject-reason" rows="2" maxlength="10000" autofocus' in detail(reviewer_client, req, "?act=reject")
    assert 'data-act=""' in detail(reviewer_client, req, "?act=bogus")


@pytest.mark.django_db
def test_a_decided_request_shows_who_decided_and_no_forms(reviewer_client, reviewer, make_request):
    req = make_request()
    decide(req.id, reviewer, "reject", reason="Not in policy")
    html = detail(reviewer_client, req)
    assert 'id="decided-by">alice<' in html and 'id="decided-reason">Not in policy<' in html
    assert 'id="approve-form"' not in html
    history = detail(reviewer_client, req, "?tab=history")
    assert 'class="history-reason">Not in policy<' in history
    assert req.shown_digest() in history


@pytest.mark.django_db
def test_status_poll_reloads_the_page_once_decided_elsewhere(reviewer_client, reviewer, make_request):
    req = make_request()
    url = reverse("inbox:status", args=[req.id]) + "?shown=open"
    same = reviewer_client.get(url, HTTP_HX_REQUEST="true")
    assert same.status_code == 200 and 'data-status="open"' in same.content.decode()
    decide(req.id, reviewer, "approve")
    changed = reviewer_client.get(url, HTTP_HX_REQUEST="true")
    assert changed["HX-Refresh"] == "true"


@pytest.mark.django_db
def test_an_expired_request_says_so(reviewer_client, make_request):
    req = make_request(status=RequestStatus.EXPIRED, on_expiry="approve")
    html = detail(reviewer_client, req)
    assert 'id="expired-summary"' in html and "the agent applied its rule: approve" in html


@pytest.mark.django_db(transaction=True)
def test_activity_shows_the_agents_steps_and_progress_events(worker, reviewer_client):
    from inbox.agents.refund import refund_agent

    _, req = start_and_wait(refund_agent, order_id="A-1234", customer="ana@example.com", complaint="It is broken")
    html = detail(reviewer_client, req, "?tab=activity")
    assert 'id="run-status" data-status="WAITING"' in html
    lookup = "refund__function_toolset__&lt;agent&gt;.call_tool:lookup_order"
    for step in (lookup, "refund__model.request", "inbox.publish_request"):
        assert f"<code>{step}</code>" in html
    assert "Handling the complaint about order A-1234" in html
    assert 'data-key="agent"' in html and "function_tool_call" in html  # the agent's own events
    assert "waiting…" in html  # the recv the run is parked in
    # For a reviewer: the model's reply as its fields, no engine tags, no bookkeeping rows.
    assert "py/" not in html and "&quot;tool_name&quot;: &quot;issue_refund&quot;" in html
    assert 'data-kind="now"' not in html and 'data-kind="set_event"' not in html
    assert "bookkeeping operations (clock readings, progress events) not shown" in html
    # The inbox's progress event as "field: value" lines, not a JSON dict.
    assert f"<dt>request_id</dt><dd>{req.id}</dd>" in html and "<dt>state</dt><dd>waiting</dd>" in html


@dataclass
class Sample:
    text: str
    pair: tuple


def test_activity_shows_engine_values_without_jsonpickle_tags():
    value = {"reply": Sample("hi", (1, 2)), "amount": Decimal("10.50"), "py/odd": {1: "one"}}
    assert plain(json.loads(serialization.dumps(value))) == {
        "reply": {"text": "hi", "pair": [1, 2]},
        "amount": "Decimal(10.50)",
        "py/odd": {"1": "one"},
    }
    assert shown(serialization.dumps_exception(ValueError("no such order"))) == "ValueError(no such order)"
    assert shown(serialization.dumps("<b>plain text</b>")) == "<b>plain text</b>"  # the template escapes it


@pytest.mark.django_db(transaction=True)
def test_history_lists_every_request_of_the_run(worker, reviewer_client, reviewer):
    handle, first = start_and_wait(w.twice_asker, first_timeout=None, second_timeout=None)
    decide(first.id, reviewer, "approve")
    from inbox.models import Request
    from tests.inbox.conftest import wait_for

    second = wait_for(lambda: Request.objects.filter(run_id=handle.id, title="Second question").first())
    html = detail(reviewer_client, second, "?tab=history")
    assert "First question" in html and "Second question" in html
    assert 'data-choice="approve"' in html
    # The first request says the agent asked again, and links to the new question.
    first_page = detail(reviewer_client, first)
    assert f'It asked again: <a href="/requests/{second.id}/">Second question</a> (waiting)' in first_page


@pytest.mark.django_db
def test_arguments_keep_the_agents_key_order_on_every_database(reviewer_client, reviewer, make_request):
    # jsonb would give "a", "zeta", "amount" (shortest key first); the reviewer must see the agent's order.
    arguments = {"zeta": 1, "amount": 2, "a": {"yy": True, "b": None}}
    req = make_request(arguments=arguments, schema={"properties": {"zeta": {}, "a": {}}})
    html = detail(reviewer_client, req)
    pretty = html.index("&quot;zeta&quot;"), html.index("&quot;amount&quot;"), html.index("&quot;a&quot;: {")
    assert list(pretty) == sorted(pretty)
    assert html.index("&quot;yy&quot;") < html.index("&quot;b&quot;")
    fields = [html.index(f'name="arg.{key}"') for key in arguments]
    assert fields == sorted(fields)
    decide(req.id, reviewer, "edit", arguments={"zeta": 3, "amount": 2, "a": {}})
    record = type(req).objects.get(id=req.id).decision
    assert list(record.arguments_before) == ["zeta", "amount", "a"] and list(record.arguments_before["a"]) == [
        "yy",
        "b",
    ]
    assert list(record.arguments_after) == ["zeta", "amount", "a"]
    assert list(type(req).objects.get(id=req.id).schema["properties"]) == ["zeta", "a"]


@pytest.mark.django_db
def test_the_header_reads_naturally(reviewer_client, make_request):
    req = make_request(agent="billing.v2.refund_agent", status=RequestStatus.EXPIRED)
    html = detail(reviewer_client, req)
    assert ">just now</time>" in html and "0 minutes" not in html
    assert 'id="request-agent">billing.v2.refund_agent<' in html  # not cut at its last dot
    assert "UTC</time>;\n        when it passes" in html  # no stray space before the semicolon
    assert 'id="request-agent">Refund<' in detail(reviewer_client, make_request(agent="refund_agent"))


REFUND_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "title": "Order"},
        "amount": {"type": "number", "title": "Refund amount", "description": "Paid back to the card.",
                   "exclusiveMinimum": 0, "maximum": 148.34},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "express": {"type": "boolean"},
        "to": {"type": "string", "format": "email"},
        "on": {"type": "string", "format": "date"},
        "count": {"type": "integer", "minimum": 1, "maximum": 3},
    },
}  # fmt: skip
REFUND_ARGUMENTS = {"order_id": "A-1", "amount": 12.5, "currency": "EUR", "express": False,
                    "to": "ana@example.com", "on": "2026-12-24", "count": 1}  # fmt: skip


@pytest.mark.django_db
def test_arguments_read_as_labelled_values_with_what_matters_first(reviewer_client, make_request):
    req = make_request(arguments=REFUND_ARGUMENTS, schema=REFUND_SCHEMA)
    html = detail(reviewer_client, req)
    shown = re.findall(r'<div class="argument( prominent)?" data-key="([^"]+)"', html)
    # Money and the recipient first, in the agent's order; then the rest.
    assert shown[:3] == [(" prominent", "amount"), (" prominent", "currency"), (" prominent", "to")]
    assert ("", "order_id") in shown and ("", "express") in shown
    assert '<dt>Refund amount <code class="key">amount</code></dt>' in html and "Paid back to the card." in html
    assert '<dd class="value">no</dd>' in html  # a boolean in words
    assert 'id="request-arguments-raw"' in html  # the raw JSON, one click away


@pytest.mark.django_db
def test_the_edit_form_follows_the_schema(reviewer_client, make_request):
    req = make_request(arguments=REFUND_ARGUMENTS, schema=REFUND_SCHEMA)
    html = detail(reviewer_client, req)
    assert re.search(r'<select name="arg.currency"[^>]*>\s*<option value="EUR" selected>EUR</option>', html)
    assert re.search(r'<input type="number" name="arg.amount" value="12.5" step="any"[^>]* max="148.34"', html)
    assert ">more than 0, at most 148.34</span>" in html
    assert re.search(r'<input type="number" name="arg.count" value="1" step="1"[^>]* min="1" max="3"', html)
    assert '<input type="checkbox" name="arg.express"' in html
    assert re.search(r'<input type="email" name="arg.to" value="ana@example.com"', html)
    assert re.search(r'<input type="date" name="arg.on" value="2026-12-24"', html)
    assert '<label for="id_arg.amount">Refund amount:</label>' in html


@pytest.mark.django_db
def test_schema_errors_are_in_a_reviewers_words_next_to_their_input(reviewer_client, make_request):
    req = make_request(arguments=REFUND_ARGUMENTS, schema=REFUND_SCHEMA)
    fields = {f"arg.{k}": v for k, v in REFUND_ARGUMENTS.items() if k != "express"} | {
        "mode": "fields", "arg.amount": "500", "arg.currency": "JPY", "arg.to": "nobody"}  # fmt: skip
    edit = reverse("inbox:edit", args=[req.id])
    refused = reviewer_client.post(edit, fields, HTTP_HX_REQUEST="true").content.decode()
    assert "Select a valid choice. JPY is not one of the available choices." in refused  # a select's own check
    fields["arg.currency"] = "USD"
    response = reviewer_client.post(edit, fields, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400
    assert "amount must be at most 148.34." in html and "to must be an email address" in html
    assert "&#x27;" not in html  # no Python repr
    amount = html[html.index('data-key="amount"') :]
    assert amount.index("amount must be at most 148.34.") < amount.index('data-key="currency"')  # beside its input


@pytest.mark.django_db(transaction=True)
def test_after_a_decision_the_page_shows_what_the_agent_did_next(worker, reviewer_client, reviewer):
    from inbox.agents.refund import refund_agent

    handle, req = start_and_wait(refund_agent, order_id="A-77", customer="bo@example.com", complaint="Late")
    decide(req.id, reviewer, "approve")
    handle.result(timeout=15)
    html = detail(reviewer_client, req)
    after = html[html.index('id="after-decision"') :]
    assert 'data-finished="true"' in after and "hx-get" not in after.split(">")[0]  # no more polling
    # The steps and progress after the decision, in order; nothing from before it.
    tool = "refund__function_toolset__&lt;agent&gt;.call_tool:"  # Pydantic AI's names for the tool steps
    assert after.index(f"{tool}issue_refund") < after.index(f"{tool}notify_customer") < after.index("Refunded")
    assert f"{tool}lookup_order" not in after
    assert 'id="after-result" data-status="SUCCESS"' in after and "&quot;status&quot;: &quot;refunded&quot;" in after
    # The run id leads to what the agent did (a reviewer) or to the run's history (staff who may view runs).
    assert 'href="?tab=activity" id="request-run"' in html
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    reviewer_client.force_login(admin)
    assert f'href="/admin/durable/workflowrun/{req.run_id}/change/" id="request-run"' in detail(reviewer_client, req)


@pytest.mark.django_db
def test_the_after_decision_part_polls_while_the_run_works(reviewer_client, reviewer, make_request):
    req = make_request()
    decide(req.id, reviewer, "approve")  # sent; no worker runs, so the run has not received it yet
    html = detail(reviewer_client, req, "?part=after")
    assert html.lstrip().startswith('<section id="after-decision" data-finished="false"')
    assert f'hx-get="/requests/{req.id}/?part=after"' in html and "The decision is on its way" in html
