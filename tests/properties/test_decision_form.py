"""Property-based: the decision endpoint against arbitrary input. Whatever a client posts, the
answer is a decision (302), a form error (400) or "already decided" (409/302), never a server error;
at most one decision is ever recorded, and it is exactly what was posted."""

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable import serialization
from durable.models import Message
from inbox.models import DecisionRecord
from inbox.reviewers import ensure_reviewers_group
from tests.conftest import build_request

from .strategies import TAG_LIKE_KEYS, json_values

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "properties": {"amount": {"type": "number", "maximum": 100}}, "required": ["amount"]}


# JSON text nested ``depth`` levels around an amount, as a reviewer could type it (past ~1,000
# levels json.dumps itself would refuse to write it).
def _nested_json(depth: int, lists: bool) -> str:
    inner = "[" * depth + "]" * depth if lists else '{"k": ' * depth + "0" + "}" * depth
    return '{"amount": 1, "deep": ' + inner + "}"


nested_json = st.builds(_nested_json, st.one_of(st.integers(0, 40), st.integers(100, 12_000)), st.booleans())
# Any code point, lone surrogates (half a UTF-16 pair) included: json.dumps writes them as \ud800 escapes.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
texts = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["", " ", "\x00", "<script>alert(1)</script>", "javascript:alert(1)", "x" * 10_001]),
    json_values.map(json.dumps),
    st.sampled_from(TAG_LIKE_KEYS).map(lambda tag: json.dumps({tag: "os.system", "amount": 1})),
    nested_json,
    st.dictionaries(any_text, any_text, max_size=3).map(lambda d: json.dumps({"amount": 1, **d})),
)
posts = st.fixed_dictionaries(
    {},
    optional={
        "choice": st.one_of(st.sampled_from(["approve", "reject", "edit", "respond", "APPROVE", ""]), st.text()),
        "reason": texts,
        "response": texts,
        "arguments_json": texts,
        "shown": st.one_of(st.just("DIGEST"), st.text(max_size=70)),
        "mode": st.sampled_from(["json", "fields", ""]),
    },
)


@pytest.fixture
def reviewer_client(client):
    user = User.objects.create_user("rita")
    user.groups.add(ensure_reviewers_group())
    client.force_login(user)
    client.raise_request_exception = False  # a crash must show up as a 500 we can assert on
    return client


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=posts, second=posts, htmx=st.booleans())
def test_any_post_is_a_decision_a_form_error_or_a_conflict(reviewer_client, first, second, htmx):
    req = build_request(title="Refund?", arguments={"amount": 10}, schema=SCHEMA)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    codes = []
    for data in (first, second):
        data = {k: (req.shown_digest() if v == "DIGEST" else v) for k, v in data.items()}
        for url in (reverse("inbox:edit", args=[req.id]), reverse("inbox:decide", args=[req.id])):
            codes.append(reviewer_client.post(url, data, **headers).status_code)
    assert set(codes) <= {200, 302, 400, 409}, codes

    records = list(DecisionRecord.objects.filter(request=req))
    messages = Message.objects.filter(destination_id=req.run_id)
    assert len(records) <= 1 and messages.count() == len(records)
    if records:
        record, sent = records[0], messages.get().value
        assert sent["choice"] == record.choice and sent["reason"] == record.reason
        assert sent["response"] == record.response
        if record.choice == "edit":
            assert json.loads(sent["arguments_json"]) == record.arguments_after
            assert isinstance(record.arguments_after, dict) and record.arguments_after.get("amount", 0) <= 100


edited_json = st.one_of(
    nested_json,
    st.dictionaries(any_text, any_text, max_size=3).map(lambda d: json.dumps({"amount": 1, **d})),
    json_values.map(lambda v: json.dumps({"amount": 2, "v": v})),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=edited_json, htmx=st.booleans())
def test_an_edit_is_stored_as_sent_or_refused_with_nothing_recorded(reviewer_client, text, htmx):
    """Edited JSON of any depth and any code points: the preview and the decision agree; what is
    accepted is stored exactly and round-trips through the engine; what is refused records nothing."""
    req = build_request(title="Refund?", arguments={"amount": 10}, schema=SCHEMA)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    preview = reviewer_client.post(
        reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": text}, **headers
    )
    data = {"choice": "edit", "shown": req.shown_digest(), "arguments_json": text}
    final = reviewer_client.post(reverse("inbox:decide", args=[req.id]), data, **headers)
    accepted = final.status_code == (200 if htmx else 302) and final.has_header("HX-Redirect") == htmx
    assert (preview.status_code, accepted) in {(200, True), (400, False)}, (preview.status_code, final.status_code)
    records = list(DecisionRecord.objects.filter(request=req))
    if not accepted:
        assert (
            final.status_code == 400
            and records == []
            and not Message.objects.filter(destination_id=req.run_id).exists()
        )
        assert 'class="errorlist' in final.content.decode()
    else:
        (record,) = records
        assert record.arguments_after == json.loads(text)
        assert serialization.loads(serialization.dumps(record.arguments_after)) == record.arguments_after
