"""Notifications: a durable delivery workflow per request and event, retried with backoff, sent
once, signed; e-mail through Django's mail framework; failures in the admin."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

import durable
from durable.models import WorkflowRun
from inbox.models import Notification, NotificationStatus
from inbox.notifying import SIGNATURE_HEADER, deliver, notify
from tests.inbox.conftest import start_and_wait, wait_for
from tests.inbox.team_workflows import team_asker

SECRET = "webhook-test-secret"


class Receiver:
    """A local webhook endpoint that answers 500 to the first ``failures`` posts, then 200."""

    def __init__(self, failures):
        self.failures = failures
        self.posts = []  # (status answered, headers, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.posts) < receiver.failures else 200
                receiver.posts.append((status, dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self):
        return [p for p in self.posts if p[0] == 200]


@pytest.fixture
def receiver(settings):
    def make(failures):
        r = Receiver(failures)
        settings.INBOX_WEBHOOK_URL = r.url
        settings.INBOX_WEBHOOK_SECRET = SECRET
        settings.INBOX_NOTIFY_RETRY_SECONDS = 0.2
        settings.INBOX_NOTIFY_ATTEMPTS = 4
        made.append(r)
        return r

    made = []
    yield make
    for r in made:
        r.server.shutdown()


def test_a_webhook_that_fails_twice_gets_the_notification_exactly_once_signed(receiver, worker, make_user):
    hook = receiver(failures=2)
    lead = make_user("lead", groups=["Leads"])
    lead.email = "lead@example.com"
    lead.save()
    handle, req = start_and_wait(team_asker, approvals=1, assignees="group:Leads")
    key = f"{req.id}:assigned:webhook"
    row = wait_for(lambda: Notification.objects.filter(key=key, status=NotificationStatus.SENT).first(), 30)
    assert row.attempts == 3 and [p[0] for p in hook.posts] == [500, 500, 200]
    ((_, headers, body),) = hook.accepted()
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert headers["Idempotency-Key"] == key
    payload = json.loads(body)
    assert payload["event"] == "assigned" and payload["request"]["id"] == str(req.id)
    # Slack-compatible text; the agent's title cannot smuggle markup (<!channel>) into it.
    assert "Pay invoice 4711?" in payload["text"] and f"/requests/{req.id}/" in payload["text"]
    # The e-mail went out through Django's mail framework to the assigned group, once.
    wait_for(lambda: Notification.objects.filter(key=f"{req.id}:assigned:email", status="sent").exists(), 30)
    assert [m.to for m in mail.outbox] == [["lead@example.com"]] and "Pay invoice 4711?" in mail.outbox[0].subject
    # Starting the same notification again (a replay, a retry) delivers nothing more.
    notify(str(req.id), "assigned")
    run = durable.retrieve(f"inbox.notify:{req.id}:assigned")
    run.result(timeout=30)
    assert WorkflowRun.objects.filter(id__startswith=f"inbox.notify:{req.id}").count() == 1
    assert len(hook.accepted()) == 1 and len(mail.outbox) == 1
    durable.cancel(handle.id)


def test_a_delivery_that_keeps_failing_is_visible_in_the_admin(receiver, worker, make_request, admin_client, settings):
    hook = receiver(failures=99)
    settings.INBOX_NOTIFY_ATTEMPTS = 2
    req = make_request(title="Wire <!channel> money", assignee_kind="group", assignee_name="Leads")
    handle = durable.start(deliver, str(req.id), "escalated", workflow_id=f"inbox.notify:{req.id}:escalated")
    outcome = handle.result(timeout=30)
    assert "500" in outcome[f"{req.id}:escalated:webhook"] and len(hook.posts) == 2
    assert "&lt;!channel&gt;" in json.loads(hook.posts[0][2])["text"]
    row = Notification.objects.get(key=f"{req.id}:escalated:webhook")
    assert row.status == NotificationStatus.FAILED and row.attempts == 2
    page = admin_client.get("/admin/inbox/notification/?status=failed").content.decode()
    assert f"{req.id}:escalated:webhook" in page and "the webhook answered 500" in page


def test_a_request_nearing_its_deadline_notifies_once(receiver, worker):
    hook = receiver(failures=0)
    handle, req = start_and_wait(team_asker, approvals=1, timeout=4, remind_before=3)
    key = f"{req.id}:deadline:webhook"
    wait_for(lambda: Notification.objects.filter(key=key, status=NotificationStatus.SENT).exists(), 30)
    assert handle.result(timeout=30)["outcome"] == "expired"  # the reminder did not end the wait
    events = [json.loads(body)["event"] for _, _, body in hook.accepted()]
    assert events == ["deadline"] and "Deadline near" in json.loads(hook.accepted()[0][2])["text"]
