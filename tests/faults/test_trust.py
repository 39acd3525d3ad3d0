"""Bad input and trust, URL by URL: every inbox and admin URL is walked from the URLconf, so a new
URL fails ``test_every_url_is_classified`` until it is given its expected behaviour here."""

import json
import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from durable.models import Message, Status, WorkflowRun
from inbox.models import DecisionRecord
from inbox.reviewers import ensure_reviewers_group
from tests.conftest import build_request, post_decision

pytestmark = pytest.mark.django_db

INBOX_METHODS = {"list": "GET", "detail": "GET", "status": "GET", "decide": "POST", "edit": "POST", "start": "GET"}
INBOX_METHODS |= {"bulk": "POST", "comment": "POST", "claim": "POST"}  # the token API: tests/inbox/test_quorum.py
ADMIN_OPEN = {"login", "logout", "view_on_site"}  # the sign-in page itself; view_on_site is Django's redirect shortcut
ARGUMENTS = {"amount": 10, "currency": "EUR"}
ADMIN_SITE_PAGES = {"index", "app_list", "password_change", "password_change_done", "autocomplete", "jsi18n"}


def walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif p.name:
            yield namespace, p.name, prefix + str(p.pattern)


def named_urls(namespace):
    return {name: route for ns, name, route in walk(get_resolver().url_patterns) if ns == namespace}


@pytest.fixture
def world(db, settings):
    """One run waiting in the inbox with its request, a decided one, and the users who try things."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    group = ensure_reviewers_group()
    reviewer = User.objects.create_user("rita")
    reviewer.groups.add(group)
    staff = User.objects.create_user("stan", is_staff=True)  # staff, but no model permissions
    superuser = User.objects.create_superuser("sue", "sue@example.com", "pw")
    open_req = build_request(title="Refund (open)?", arguments=ARGUMENTS)
    decided = build_request(status="decided", title="Refund (decided)?", arguments=ARGUMENTS)
    record = DecisionRecord.objects.create(
        request=decided, run_id=decided.run_id, reviewer=reviewer, reviewer_name="rita", choice="approve",
        arguments_before={}, shown_digest=decided.shown_digest(),
    )  # fmt: skip
    objects = {
        "durable/workflowrun": open_req.run_id,
        "inbox/request": str(open_req.id),
        "inbox/decisionrecord": str(record.pk),
        "auth/user": str(reviewer.pk),
        "auth/group": str(group.pk),
        **team_objects(open_req, reviewer),
    }
    return {"reviewer": reviewer, "staff": staff, "superuser": superuser, "req": open_req, "objects": objects}


def team_objects(req, reviewer):
    """One row of each of the inbox's team tables (history, notifications, API tokens)."""
    from inbox import tokens
    from inbox.models import ApiToken, Note, Notification

    note = Note.objects.create(request=req, kind="comment", author_name="rita", text="hi")
    Notification.objects.create(key=f"{req.id}:assigned:email", request=req, event="assigned", channel="email")
    tokens.create(reviewer, "bot")
    return {
        "inbox/note": str(note.pk),
        "inbox/notification": f"{req.id}:assigned:email",
        "inbox/apitoken": str(ApiToken.objects.get().pk),
    }


def inbox_urls(req_id):
    routes = named_urls("inbox")
    return {name: reverse(f"inbox:{name}", args=[req_id] if "<uuid" in route else []) for name, route in routes.items()}


def admin_urls(objects):
    urls = {}
    for name, route in named_urls("admin").items():
        if name in ADMIN_OPEN:
            continue
        model = next((m for m in objects if route.startswith(f"admin/{m}/")), None)
        url = "/" + route.replace("^", "").replace("$", "").replace("(?P<app_label>auth|durable|inbox)", "durable")
        url = url.replace("<path:object_id>", objects[model] if model else "").replace("<id>", objects.get(model, ""))
        urls[name] = url
    return urls


def test_every_url_is_classified(world):
    assert set(named_urls("inbox")) == set(INBOX_METHODS)
    model_pages = {
        n for n in named_urls("admin") if re.search(r"_(changelist|add|history|delete|change|fork|schedules)$", n)
    }
    model_pages.add("auth_user_password_change")
    assert set(named_urls("admin")) == ADMIN_OPEN | ADMIN_SITE_PAGES | model_pages


def call(client, method, url, data=None):
    return client.post(url, data or {}) if method == "POST" else client.get(url)


def test_anonymous_gets_the_sign_in_page_everywhere(client, world):
    for name, url in inbox_urls(world["req"].id).items():
        response = call(client, INBOX_METHODS[name], url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="), name
    for name, url in admin_urls(world["objects"]).items():
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), (name, url)
    assert 'id="login-form"' in client.get("/accounts/login/?next=/").content.decode()
    assert not DecisionRecord.objects.filter(request=world["req"]).exists()


def test_signed_in_users_without_the_permission_get_403(client, world):
    client.force_login(User.objects.create_user("mallory"))  # signed in, no group, not staff
    for name, url in inbox_urls(world["req"].id).items():
        assert call(client, INBOX_METHODS[name], url, {"choice": "approve"}).status_code == 403, name
    assert client.post(reverse("inbox:start"), {"kind": "refund", "count": 1}).status_code == 403
    # The admin sends non-staff users to its own sign-in page (Django's behaviour), never in.
    for name, url in admin_urls(world["objects"]).items():
        assert client.get(url)["Location"].startswith("/admin/login/"), name
    client.force_login(world["staff"])  # staff without any model permission
    for name, url in admin_urls(world["objects"]).items():
        if name not in ADMIN_SITE_PAGES:
            assert client.get(url).status_code == 403, (name, url)
    fork = reverse("admin:durable_workflowrun_fork", args=[world["req"].run_id])
    assert client.post(fork, {"from_step": 0}).status_code == 403
    assert WorkflowRun.objects.count() == 2 and not DecisionRecord.objects.filter(request=world["req"]).exists()


def test_a_post_without_csrf_token_is_403_and_changes_nothing(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["superuser"])  # a superuser is a reviewer and may manage runs
    req = world["req"]
    posts = [
        (reverse("inbox:decide", args=[req.id]), {"choice": "approve", "shown": req.shown_digest()}),
        (reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": '{"amount": 1}'}),
        (reverse("inbox:start"), {"kind": "refund", "count": 1}),
        (reverse("admin:durable_workflowrun_fork", args=[req.run_id]), {"from_step": 0}),
        (reverse("admin:durable_workflowrun_changelist"), {"action": "cancel_runs", "_selected_action": req.run_id}),
        (reverse("admin:logout"), {}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 403 and "CSRF" in response.content.decode(), url
    assert WorkflowRun.objects.count() == 2
    assert WorkflowRun.objects.get(id=req.run_id).status == Status.WAITING
    assert not DecisionRecord.objects.filter(request=req).exists() and not Message.objects.exists()
    assert client.get(reverse("inbox:list")).status_code == 200, "still signed in: logout needed its token too"


@pytest.mark.parametrize("bad_id", [str(uuid.UUID(int=0)), "not-a-uuid", "1234", "../../admin", "%00"])
def test_unknown_or_malformed_ids_are_404(client, world, bad_id):
    client.force_login(world["superuser"])
    for name in ("detail", "status", "decide", "edit"):
        url = f"/requests/{bad_id}/" + ("" if name == "detail" else f"{name}/")
        assert call(client, INBOX_METHODS[name], url, {"choice": "approve"}).status_code == 404, url
    assert client.get(f"/admin/durable/workflowrun/{bad_id}/fork/").status_code == 404
    assert client.get(f"/admin/durable/workflowrun/{bad_id}/change/").status_code == 404  # a run's story
    for model in ("inbox/request", "inbox/decisionrecord"):
        # Django's admin answers an unknown object with its index and a notice, never an error page.
        response = client.get(f"/admin/{model}/{bad_id}/change/", follow=True)
        assert response.status_code == 200 and "doesn\u2019t exist" in response.content.decode(), model


@pytest.mark.parametrize(
    "query",
    [
        "tab=<script>",
        "page=-1",
        "page=abc",
        "page=99999999999999999999",
        "mine=maybe",
        "agent=" + "a" * 5000,
        "agent=%00",
        "agent=%ff%fe",
    ],
)
def test_garbage_in_the_inbox_query_string_is_never_a_server_error(client, world, query):
    client.force_login(world["reviewer"])
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        assert client.get(f"/?{query}", **headers).status_code in (200, 400), query
    assert client.get(reverse("inbox:detail", args=[world["req"].id]) + f"?{query}&act=%00").status_code == 200


def edit(client, req, text):
    return client.post(reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": text})


def test_malformed_and_oversized_forms_are_400_with_a_message(client, world):
    client.force_login(world["reviewer"])
    req = world["req"]
    cases = [
        (post_decision(client, req), "This field is required"),
        (post_decision(client, req, choice="nuke"), "Select a valid choice"),
        (post_decision(client, req, choice="reject"), "Say why you reject it"),
        (post_decision(client, req, choice="reject", reason="x" * 10_001), "at most 10000 characters"),
        (post_decision(client, req, choice="approve", shown="forged"), "reload the page"),
        (edit(client, req, "{"), "not valid JSON"),
        (edit(client, req, "[1, 2]"), "must be a JSON object"),
        (edit(client, req, '{"amount": NaN}'), "not valid JSON"),
        (edit(client, req, json.dumps({"note": "x" * 100_001})), "at most 100000 characters"),
        (client.post(reverse("inbox:start"), {"kind": "refund", "count": "many"}), "a count from 1 to"),
        (client.post(reverse("inbox:start"), {"kind": "<script>", "count": 1}), "Choose an agent"),
    ]
    for response, message in cases:
        assert response.status_code == 400, message
        assert message in response.content.decode(), message
    # Past Django's request limits the request never reaches a view: a plain 400.
    huge = post_decision(client, req, choice="respond", response="x" * 3_000_000)
    many = client.post(reverse("inbox:decide", args=[req.id]), {f"f{i}": i for i in range(1_100)})
    for response in (huge, many):
        assert response.status_code == 400 and "Bad Request" in response.content.decode()
    assert not DecisionRecord.objects.filter(request=req).exists() and not Message.objects.exists()


def test_arguments_that_break_the_schema_are_a_form_error(client, world):
    schema = {
        "type": "object",
        "properties": {"amount": {"type": "number", "maximum": 100}, "currency": {"enum": ["EUR", "USD"]}},
        "required": ["amount", "currency"],
    }
    req = build_request(title="Refund (open)?", arguments=ARGUMENTS, schema=schema)
    client.force_login(world["reviewer"])
    for text in ('{"amount": 1000, "currency": "EUR"}', '{"amount": 5, "currency": "BTC"}', '{"amount": 5}'):
        preview = edit(client, req, text)
        final = post_decision(client, req, choice="edit", arguments_json=text)
        assert preview.status_code == 400 and final.status_code == 400, text
        assert 'class="errorlist' in preview.content.decode() and 'class="errorlist' in final.content.decode()
    assert not DecisionRecord.objects.filter(request=req).exists()


class Canary:
    """Instantiating this from request data would be the jsonpickle attack."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("instantiated from request data")

    def __setstate__(self, state):
        raise AssertionError("instantiated from request data")


CRAFTED = json.dumps({"py/object": f"{__name__}.Canary", "py/state": {"armed": True}})


def test_a_crafted_py_object_payload_in_a_form_field_is_stored_and_shown_as_text(client, world):
    client.force_login(world["reviewer"])
    req = world["req"]
    assert post_decision(client, req, choice="respond", response=CRAFTED).status_code == 302
    assert DecisionRecord.objects.get(request=req).response == CRAFTED
    delivered = Message.objects.get(destination_id=req.run_id).value  # decoded the way the agent decodes it
    assert delivered["response"] == CRAFTED, "the agent receives the text, not an object"
    page = client.get(reverse("inbox:detail", args=[req.id]) + "?tab=history").content.decode()
    assert "&quot;py/object&quot;" in page and "Canary" in page
    admin = Client()
    admin.force_login(world["superuser"])
    record = DecisionRecord.objects.get(request=req)
    shown = admin.get(reverse("admin:inbox_decisionrecord_change", args=[record.pk])).content.decode()
    assert "&quot;py/object&quot;" in shown
