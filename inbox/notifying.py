"""Notifications: e-mail and a signed webhook when a request is assigned, escalates or nears its deadline.

Delivery is a durable workflow of its own, started once per request and event (its workflow id
is the idempotency key, so a replayed ``ask`` never starts it twice). Each channel is tried
until it succeeds, with a durable sleep between attempts that doubles each time; every attempt
is counted on its ``Notification`` row, which the admin lists with the last error.

The webhook posts JSON with a Slack-compatible ``text`` field; the body is signed with
HMAC-SHA256 under ``INBOX_WEBHOOK_SECRET`` in ``X-Inbox-Signature: sha256=<hex>``, and the
``Idempotency-Key`` header lets the receiver drop a retry of a delivery it already took.
"""

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

import durable

from .models import DB_STEP_INTERVAL, DB_STEP_RETRIES, Notification, NotificationStatus, Request

ASSIGNED = "assigned"
ESCALATED = "escalated"
DEADLINE = "deadline"
EMAIL = "email"
WEBHOOK = "webhook"
SIGNATURE_HEADER = "X-Inbox-Signature"


def notify(request_id: str, event: str) -> None:
    """Start the delivery of ``event`` for the request, once (inside a workflow: a child run)."""
    durable.start(deliver, request_id, event, workflow_id=f"inbox.notify:{request_id}:{event}")


@durable.workflow(name="inbox.notify")
def deliver(request_id: str, event: str) -> dict[str, str]:
    plan = plan_delivery(request_id, event)
    outcome = {}
    for key in plan["keys"]:
        for attempt in range(plan["attempts"]):
            error = attempt_delivery(key, last=attempt + 1 == plan["attempts"])
            if not error:
                break
            if attempt + 1 < plan["attempts"]:
                durable.sleep(plan["interval"] * 2**attempt)
        outcome[key] = error or "sent"
    return outcome


@durable.step(name="inbox.plan_notification", retries=DB_STEP_RETRIES, interval=DB_STEP_INTERVAL)
def plan_delivery(request_id: str, event: str) -> dict[str, Any]:
    """The channels this notification goes to (their rows created), and the retry schedule."""
    request = Request.objects.get(id=request_id)
    channels = []
    if recipients(request):
        channels.append(EMAIL)
    if getattr(settings, "INBOX_WEBHOOK_URL", ""):
        channels.append(WEBHOOK)
    keys = []
    for channel in channels:
        key = f"{request_id}:{event}:{channel}"
        Notification.objects.get_or_create(key=key, defaults={"request": request, "event": event, "channel": channel})
        keys.append(key)
    attempts = int(getattr(settings, "INBOX_NOTIFY_ATTEMPTS", 6))
    interval = float(getattr(settings, "INBOX_NOTIFY_RETRY_SECONDS", 30))
    return {"keys": keys, "attempts": max(1, attempts), "interval": interval}


@durable.step(name="inbox.deliver_notification")
def attempt_delivery(key: str, last: bool) -> str:
    """Try one delivery; "" when it went out, else the error (recorded on the row)."""
    note = Notification.objects.select_related("request").get(key=key)
    if note.status == NotificationStatus.SENT:
        return ""
    note.attempts += 1
    try:
        (send_email if note.channel == EMAIL else post_webhook)(note)
    except Exception as exc:  # any failure is retried; the row shows the last one
        note.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        note.status = NotificationStatus.FAILED if last else NotificationStatus.PENDING
        note.save(update_fields=["attempts", "last_error", "status"])
        return note.last_error
    note.status, note.sent_at, note.last_error = NotificationStatus.SENT, timezone.now(), ""
    note.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return ""


def recipients(request: Request) -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if request.assignee_kind == Request.USER:
        users = users.filter(username=request.assignee_name)
    elif request.assignee_kind == Request.GROUP:
        users = users.filter(groups__name=request.assignee_name)
    else:
        return []
    return sorted(set(users.values_list("email", flat=True)))


def text(request: Request, event: str) -> str:
    """The message, in plain words; the agent's title is escaped as Slack asks (no <!channel> from agents)."""
    title = slack_escape(request.title)
    who = slack_escape(request.assignee_label or "any reviewer")
    url = link(request)
    if event == ESCALATED:
        return f"Escalated to {who}: nobody decided “{title}” in time. Decide: {url}"
    if event == DEADLINE:
        when = timezone.localtime(request.deadline).strftime("%Y-%m-%d %H:%M %Z") if request.deadline else ""
        return f"Deadline near ({when}): “{title}” is still undecided. Decide: {url}"
    return f"An agent asks {who} to decide “{title}”. Decide: {url}"


def slack_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(request: Request) -> str:
    base = str(getattr(settings, "INBOX_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    return base + reverse("inbox:detail", args=[request.id])


def send_email(note: Notification) -> None:
    request = note.request
    subject = {ESCALATED: "Escalated", DEADLINE: "Deadline near"}.get(note.event, "To decide")
    send_mail(f"[Agent inbox] {subject}: {request.title}"[:200], text(request, note.event), None, recipients(request))


def payload(note: Notification) -> bytes:
    request = note.request
    body = {
        "text": text(request, note.event),
        "event": note.event,
        "idempotency_key": note.key,
        "request": {
            "id": str(request.id),
            "title": request.title,
            "agent": request.agent,
            "assignee": request.assignee_label,
            "deadline": request.deadline.isoformat() if request.deadline else None,
            "url": link(request),
        },
    }
    return json.dumps(body, sort_keys=True).encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(note: Notification) -> None:
    body = payload(note)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": note.key,
        SIGNATURE_HEADER: signature(body, str(getattr(settings, "INBOX_WEBHOOK_SECRET", ""))),
    }
    request = urllib.request.Request(settings.INBOX_WEBHOOK_URL, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # an http(s) URL from settings
            response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the webhook answered {exc.code} {exc.reason}") from None
