"""Bad input is a 400 that names the cause and the fix, with nothing recorded: never a server error.

Found by probing a live server: edits nested thousands deep, lone surrogates (half a UTF-16 pair)
in edited JSON or in form text, and admin list filters the database refuses."""

import json
import threading
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

import durable
from durable import serialization
from durable.models import Message, Status
from inbox import ask
from inbox.decision import Decision, Outcome
from inbox.models import DecisionRecord
from inbox.schema import MAX_DEPTH
from tests.conftest import post_decision
from tests.inbox.conftest import start_and_wait


@durable.workflow()
def keeps_the_decision():
    """An agent that stores what the reviewer sent as it is: its result is the Decision itself."""
    return ask("Refund?", action="refund", arguments={"amount": 10, "detail": {}}, decisions=("edit",))


def nested(depth, kind="dict"):
    """A value with ``depth`` containers one inside the other (the innermost holds 1)."""
    value = 1
    for _ in range(depth):
        value = {"k": value} if kind == "dict" else [value]
    return value


@pytest.fixture
def client_of(reviewer_client):
    reviewer_client.raise_request_exception = False  # a crash must show up as a 500 we can assert on
    return reviewer_client


def edit(client, req, text):
    return client.post(reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": text})


def assert_refused(response, message):
    page = response.content.decode()
    assert response.status_code == 400 and message in page, (response.status_code, page[-2000:])


def assert_nothing_recorded(req):
    assert not DecisionRecord.objects.filter(request=req).exists()
    assert not Message.objects.filter(destination_id=req.run_id).exists()


# --- nesting --------------------------------------------------------------------------------------


def nested_text(depth, kind="dict"):
    """``nested(depth, kind)`` as JSON text, written out (json.dumps itself stops near 1,000 levels)."""
    return '{"k": ' * depth + "1" + "}" * depth if kind == "dict" else "[" * depth + "1" + "]" * depth


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, 800, 10_000])
def test_edits_nested_deeper_than_the_limit_are_refused(client_of, make_request, kind, depth):
    req = make_request()
    text = '{"amount": 5, "deep": ' + nested_text(depth, kind) + "}"
    expected = "nests too deeply to read" if depth == 10_000 else f"more than {MAX_DEPTH} levels deep"
    assert_refused(edit(client_of, req, text), expected)
    assert_refused(post_decision(client_of, req, choice="edit", arguments_json=text), expected)
    # The same value typed into the input of a nested argument ("tags", a list, is level 2).
    fields = {"arg.amount": "10", "arg.currency": "EUR", "arg.tags": "[" + nested_text(depth, kind) + "]"}
    assert_refused(client_of.post(reverse("inbox:edit", args=[req.id]), fields), expected)
    assert_nothing_recorded(req)


@pytest.mark.django_db(transaction=True)
def test_an_edit_at_the_limit_reaches_an_agent_that_stores_it(worker, client_of):
    handle, req = start_and_wait(keeps_the_decision)
    arguments = {"amount": 10, "detail": nested(MAX_DEPTH - 1)}  # the arguments object is level 1
    response = post_decision(client_of, req, choice="edit", arguments_json=json.dumps(arguments))
    assert response.status_code == 302
    decision = handle.result(timeout=15)  # stored by the engine (as jsonpickle) and read back
    assert decision.outcome == Outcome.EDITED and decision.arguments == arguments
    assert durable.retrieve(handle.id).status() == Status.SUCCESS


def test_the_engine_stores_twice_the_limit_from_deep_in_a_call_stack():
    """The limit keeps its margin: a Decision holding arguments nested twice as deep still
    round-trips through the engine's serialization, 100 frames down a worker-like thread."""
    outcome = {}

    def store(frames):
        if frames:
            return store(frames - 1)
        for kind in ("dict", "list"):
            value = Decision(Outcome.EDITED, "r", {"a": nested(2 * MAX_DEPTH, kind)})
            outcome[kind] = serialization.loads(serialization.dumps(value)) == value

    thread = threading.Thread(target=store, args=(100,))
    thread.start()
    thread.join()
    assert outcome == {"dict": True, "list": True}


# --- lone surrogates ----------------------------------------------------------------------------

SURROGATE_EDITS = [
    '{"amount": 5, "note": "\\ud800"}',  # a JSON escape for half a pair, in a value
    '{"amount": 5, "\\udfff": 1}',  # ...in a key
    '{"amount": 5, "tags": ["ok", {"deep": "x\\udc00y"}]}',  # ...deeper down
]


@pytest.mark.django_db
@pytest.mark.parametrize("text", SURROGATE_EDITS)
def test_a_lone_surrogate_in_edited_json_is_refused(client_of, make_request, text):
    req = make_request()
    assert_refused(edit(client_of, req, text), "half of a UTF-16 surrogate pair")
    assert_refused(post_decision(client_of, req, choice="edit", arguments_json=text), "half of a UTF-16 surrogate pair")
    fields = {"arg.amount": "10", "arg.currency": "EUR", "arg.tags": '["\\ud800"]'}
    fields = client_of.post(reverse("inbox:edit", args=[req.id]), fields)
    assert_refused(fields, "half of a UTF-16 surrogate pair")
    assert_nothing_recorded(req)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/?agent=", "/requests/{id}/?tab=", "/admin/durable/workflowrun/?q=", "/accounts/login/?next="]
)
def test_a_query_that_decodes_to_a_lone_surrogate_is_refused(client_of, make_request, path):
    """A browser sends UTF-8, but a request may declare another charset, and Django decodes the
    query string with it: in UTF-7, "+2AA-" is \\ud800, which no page or query can encode."""
    url = path.format(id=make_request().id) + "+2AA-"
    assert_refused(client_of.get(url, CONTENT_TYPE="text/plain; charset=utf-7"), "Send it as UTF-8")


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["reason", "response"])
def test_form_text_in_another_charset_never_stores_a_surrogate(client_of, make_request, field):
    req = make_request()
    choice = "reject" if field == "reason" else "respond"
    data = {"choice": choice, "shown": req.shown_digest(), field: "No+2AA-"}
    url = reverse("inbox:decide", args=[req.id])
    form = client_of.post(url, urlencode(data), content_type="application/x-www-form-urlencoded; charset=utf-7")
    assert form.status_code == 400  # Django refuses form data that is not UTF-8
    assert_nothing_recorded(req)
    multipart = encode_multipart(BOUNDARY, data)  # each part is read as UTF-8, whatever the request says
    response = client_of.post(url, multipart, content_type=f"{MULTIPART_CONTENT}; charset=utf-7")
    assert response.status_code == 302
    assert getattr(DecisionRecord.objects.get(request=req), field) == "No+2AA-"


# --- admin list filters -------------------------------------------------------------------------

HUGE = "99999999999999999999"


def filter_probes(model_admin):
    """Query strings built from a changelist's own filters: NULs, and numbers and dates out of range."""
    model = model_admin.model
    names = {"id", "name", *(f for f in model_admin.list_filter if isinstance(f, str))}
    dates = {f.name for f in model._meta.fields if isinstance(f, models.DateField)}
    if model_admin.date_hierarchy:
        dates.add(model_admin.date_hierarchy)
    probes = ["q=%00", f"p={HUGE}", f"o={HUGE}"]
    probes += [f"{name}={value}" for name in sorted(names) for value in ("%00", HUGE, "-" + HUGE)]
    probes += [f"{name}__{part}={HUGE}" for name in sorted(dates) for part in ("year", "month", "day")]
    probes += [f"{name}__year=2024&{name}__month={HUGE}" for name in sorted(dates)]
    return probes


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("sue", "sue@example.com", "pw"))
    client.raise_request_exception = False
    return client


@pytest.mark.django_db
def test_no_admin_list_filter_is_a_server_error(superuser_client):
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for query in filter_probes(model_admin):
            response = superuser_client.get(f"{url}?{query}")
            assert response.status_code in (200, 302, 400), (url, query, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, message",
    [
        ("/admin/durable/workflowrun/?name=%00", "NUL character"),
        ("/admin/inbox/request/?agent=%00", "NUL character"),
        ("/admin/auth/group/?name=%00", "NUL character"),
        (f"/admin/durable/workflowrun/?created_at__year={HUGE}", f"cannot be filtered by “created_at__year={HUGE}”"),
        (f"/admin/inbox/request/?created_at__year={HUGE}", "Correct the value or remove the filter"),
        (f"/admin/inbox/decisionrecord/?decided_at__year={HUGE}", "Correct the value or remove the filter"),
        (f"/admin/auth/user/?date_joined__year={HUGE}", "Correct the value or remove the filter"),
        ("/admin/auth/user/?date_joined__year=99999", "year 99999 is out of range"),
    ],
)
def test_the_issues_admin_filters_are_a_400_naming_the_cause(superuser_client, url, message):
    response = superuser_client.get(url)
    assert_refused(response, message)
    assert "Show the list without filters" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["agent", "tab", "mine", "page", "created_at__year", "name", "q"])
def test_the_inbox_list_filters_take_the_same_inputs_without_a_server_error(client_of, make_request, param):
    make_request()
    for value in ("%00", HUGE, "-" + HUGE, "%ff%fe"):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client_of.get(f"/?{param}={value}&tab=decided", **headers)
            assert response.status_code in (200, 400), (param, value, response.status_code)
