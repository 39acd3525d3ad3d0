"""Deciding through the views: each decision, its validation, the diff, and the second decider."""

import json

import pytest
from django.urls import reverse

import durable
from durable.models import Message, Status
from inbox import wire
from inbox.models import DecisionRecord, RequestStatus
from tests.conftest import post_decision

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def delivered(req):
    """The decision message the agent will receive, decoded as the agent decodes it."""
    message = Message.objects.get(destination_id=req.run_id, idempotency_key=str(req.id))
    assert message.topic == "inbox"
    return wire.parse(message.value)


def test_approve_records_sends_and_redirects(reviewer_client, make_request):
    req = make_request()
    response = post_decision(reviewer_client, req, "approve")
    assert response.status_code == 302 and response["Location"] == reverse("inbox:list")
    record = DecisionRecord.objects.get(request=req)
    assert (record.choice, record.reviewer_name, record.run_id) == ("approve", "alice", req.run_id)
    assert record.arguments_before == req.arguments and record.arguments_after is None
    assert record.shown_digest == req.shown_digest()
    req.refresh_from_db()
    assert req.status == RequestStatus.DECIDED
    assert delivered(req)["choice"] == "approve"
    # The parked run was woken by the message.
    assert durable.retrieve(req.run_id).status() == Status.ENQUEUED
    page = reviewer_client.get(response["Location"]).content.decode()
    assert "You approved “Refund 10 EUR?”" in page


def test_approve_over_htmx_redirects_the_client(reviewer_client, make_request):
    req = make_request()
    response = post_decision(reviewer_client, req, "approve", htmx=True)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("inbox:list")


def test_reject_needs_a_reason(reviewer_client, make_request):
    req = make_request()
    response = post_decision(reviewer_client, req, "reject", reason="   ")
    assert response.status_code == 400
    assert "Say why you reject it" in response.content.decode()
    assert not DecisionRecord.objects.exists()
    partial = post_decision(reviewer_client, req, "reject", htmx=True, reason="")
    assert partial.status_code == 400
    html = partial.content.decode()
    assert html.lstrip().startswith('<aside id="decide-panel"') and "Say why you reject it" in html
    assert post_decision(reviewer_client, req, "reject", reason="Too expensive").status_code == 302
    record = DecisionRecord.objects.get()
    assert record.reason == "Too expensive"
    assert delivered(req)["reason"] == "Too expensive"


def test_respond_needs_text_and_sends_it(reviewer_client, make_request):
    req = make_request()
    assert post_decision(reviewer_client, req, "respond", response="").status_code == 400
    assert post_decision(reviewer_client, req, "respond", response="Offer a voucher instead.").status_code == 302
    assert delivered(req)["response"] == "Offer a voucher instead."


def test_a_choice_the_agent_does_not_accept_is_400(reviewer_client, make_request):
    req = make_request(choices=["approve", "reject"])
    response = post_decision(reviewer_client, req, "respond", response="hi")
    assert response.status_code == 400
    assert "does not accept" in response.content.decode()
    assert post_decision(reviewer_client, req, "launch").status_code == 400
    assert not DecisionRecord.objects.exists()


def test_a_tampered_or_missing_digest_is_400(reviewer_client, make_request):
    req = make_request()
    assert post_decision(reviewer_client, req, "approve", shown="0" * 64).status_code == 400
    response = reviewer_client.post(reverse("inbox:decide", args=[req.id]), {"choice": "approve"})
    assert response.status_code == 400 and "reload the page" in response.content.decode()
    assert not DecisionRecord.objects.exists()


def edit_fields(client, req, htmx=False, **fields):
    data = {"mode": "fields"} | {f"arg.{key}": value for key, value in fields.items()}
    return client.post(reverse("inbox:edit", args=[req.id]), data, **(HTMX if htmx else {}))


def test_edit_fields_keep_their_json_types_and_show_a_diff(reviewer_client, make_request):
    req = make_request(arguments={"amount": 10, "currency": "EUR", "express": False, "tags": ["a"], "extra": None})
    response = edit_fields(
        reviewer_client, req, htmx=True, amount="12.5", currency="EUR", express="on", tags='["a", "b"]', extra="{}"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="edit-diff"' in html and 'id="confirm-edit-button"' in html
    assert 'data-key="amount"' in html and 'data-key="currency"' not in html  # only what changed
    # The confirm form carries the new arguments with their JSON types.
    start = html.index('name="arguments_json" value="') + len('name="arguments_json" value="')
    import html as html_lib

    arguments = json.loads(html_lib.unescape(html[start : html.index('"', start)]))
    assert arguments == {"amount": 12.5, "currency": "EUR", "express": True, "tags": ["a", "b"], "extra": {}}
    confirm = post_decision(reviewer_client, req, "edit", arguments_json=json.dumps(arguments))
    assert confirm.status_code == 302
    record = DecisionRecord.objects.get()
    assert record.arguments_after == arguments and record.arguments_before == req.arguments
    assert json.loads(delivered(req)["arguments_json"]) == arguments


def test_edit_field_errors_are_400_with_the_reason(reviewer_client, make_request):
    req = make_request()
    bad_number = edit_fields(reviewer_client, req, amount="ten", currency="EUR", tags='["a"]')
    assert bad_number.status_code == 400 and "is not a number" in bad_number.content.decode()
    bad_list = edit_fields(reviewer_client, req, amount="10", currency="EUR", tags='{"a": 1}')
    assert bad_list.status_code == 400 and "Keep this a JSON list" in bad_list.content.decode()
    unchanged = edit_fields(reviewer_client, req, amount="10", currency="EUR", tags='["a"]')
    assert unchanged.status_code == 400 and "Nothing changed" in unchanged.content.decode()
    assert not DecisionRecord.objects.exists()


SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "number", "maximum": 50}, "currency": {"enum": ["EUR", "USD"]}},
    "required": ["amount", "currency"],
    "additionalProperties": False,
}


def test_schema_errors_are_form_errors(reviewer_client, make_request):
    req = make_request(arguments={"amount": 10, "currency": "EUR"}, schema=SCHEMA)
    too_much = edit_fields(reviewer_client, req, amount="500", currency="EUR")
    assert too_much.status_code == 400
    assert "amount must be at most 50." in too_much.content.decode()  # in a reviewer's words
    as_json = reviewer_client.post(
        reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": '{"amount": 5, "note": "x"}'}
    )
    html = as_json.content.decode()
    assert as_json.status_code == 400
    assert "currency is required: give it a value." in html
    assert "note is not an argument this action takes: remove it." in html
    assert "&#x27;" not in html  # no Python repr
    # Posting the edit directly (skipping the preview) is validated the same way.
    direct = post_decision(reviewer_client, req, "edit", arguments_json='{"amount": 99, "currency": "EUR"}')
    assert direct.status_code == 400 and "amount must be at most 50." in direct.content.decode()
    assert not DecisionRecord.objects.exists()
    ok = post_decision(reviewer_client, req, "edit", arguments_json='{"amount": 20, "currency": "USD"}')
    assert ok.status_code == 302


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "This is not valid JSON"), ("[1, 2]", "must be a JSON object"), ('{"a": NaN}', "not valid JSON")],
)
def test_bad_json_is_400(reviewer_client, make_request, text, message):
    req = make_request()
    preview = reviewer_client.post(reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": text})
    assert preview.status_code == 400 and message in preview.content.decode()
    direct = post_decision(reviewer_client, req, "edit", arguments_json=text)
    assert direct.status_code == 400 and message in direct.content.decode()


def test_edit_is_refused_when_the_agent_does_not_accept_edits(reviewer_client, make_request):
    req = make_request(choices=["approve", "reject"])
    response = edit_fields(reviewer_client, req, amount="11", currency="EUR", tags='["a"]')
    assert response.status_code == 400 and "does not accept edits" in response.content.decode()
    assert post_decision(reviewer_client, req, "edit", arguments_json='{"amount": 11}').status_code == 400


def test_the_second_decider_gets_409_naming_who_decided_first(client, make_user, make_request):
    req = make_request()
    first, second = make_user("bob"), make_user("carol")
    client.force_login(first)
    assert post_decision(client, req, "approve").status_code == 302
    client.force_login(second)
    response = post_decision(client, req, "reject", htmx=True, reason="no")
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="closed-notice"' in html and "bob already approved this request at" in html
    # Without htmx: a message and a redirect to the request, which shows the decision.
    plain = post_decision(client, req, "reject", reason="no")
    assert plain.status_code == 302 and plain["Location"] == reverse("inbox:detail", args=[req.id])
    page = client.get(plain["Location"]).content.decode()
    assert "bob already approved this request at" in page and 'id="decided-by">bob<' in page
    assert DecisionRecord.objects.count() == 1
    assert Message.objects.filter(destination_id=req.run_id).count() == 1


def test_a_double_click_yields_one_decision(reviewer_client, make_request):
    req = make_request()
    assert post_decision(reviewer_client, req, "approve", htmx=True).status_code == 200
    assert post_decision(reviewer_client, req, "approve", htmx=True).status_code == 409
    assert DecisionRecord.objects.count() == 1


def test_an_expired_request_cannot_be_decided(reviewer_client, make_request):
    req = make_request(status=RequestStatus.EXPIRED)
    response = post_decision(reviewer_client, req, "approve", htmx=True)
    assert response.status_code == 409
    assert "expired" in response.content.decode()
    assert not DecisionRecord.objects.exists()


def test_a_request_whose_agent_was_cancelled_cannot_be_decided(reviewer_client, make_request):
    req = make_request()
    durable.cancel(req.run_id)
    response = post_decision(reviewer_client, req, "approve", htmx=True)
    assert response.status_code == 409
    assert "run was cancelled at" in response.content.decode() and "no longer waits" in response.content.decode()
    assert not DecisionRecord.objects.exists()
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED  # closed by the refused decision (the cancel here never commits)


def test_decision_records_are_append_only(reviewer_client, make_request):
    from inbox.models import AppendOnly

    req = make_request()
    post_decision(reviewer_client, req, "approve")
    record = DecisionRecord.objects.get()
    record.reason = "changed later"
    with pytest.raises(AppendOnly):
        record.save()
    with pytest.raises(AppendOnly):
        record.delete()


@pytest.mark.django_db(transaction=True)
def test_reviewers_racing_on_one_request_yield_exactly_one_decision(make_user, make_request):
    import threading

    from django.db import connection

    from inbox.deciding import AlreadyClosed, decide

    req = make_request()
    users = [make_user(f"racer{i}") for i in range(4)]
    barrier = threading.Barrier(len(users))
    outcomes = []

    def attempt(user):
        try:
            barrier.wait()
            decide(req.id, user, "approve")
            outcomes.append("decided")
        except AlreadyClosed:
            outcomes.append("closed")
        except Exception as exc:  # shown in the assertion below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["closed", "closed", "closed", "decided"]
    assert DecisionRecord.objects.filter(request=req).count() == 1
    assert Message.objects.filter(destination_id=req.run_id).count() == 1


def test_string_formats_in_the_schema_are_checked(reviewer_client, make_request):
    schema = {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}
    req = make_request(arguments={"to": "ana@example.com"}, schema=schema)
    response = edit_fields(reviewer_client, req, to="not an address")
    assert response.status_code == 400 and "to must be an email address" in response.content.decode()
