"""The agent side: ``ask`` publishes a request durably and waits for the decision."""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

import durable
from durable.models import WorkflowRun

from . import forks, notifying, wire
from . import schema as schemas
from .decision import Decision, Outcome, RequestExpired
from .escalating import Timer, escalate
from .models import (
    DB_STEP_INTERVAL,
    DB_STEP_RETRIES,
    INBOX_TOPIC,
    PUBLISH_STEP,
    Choice,
    OnExpiry,
    Request,
    RequestStatus,
)

# Request ids are uuid5(this, "<run id>:<step seq>"): the same on every retry and replay.
REQUEST_NAMESPACE = uuid.UUID("5b0e3c36-8f2a-4c55-9a57-3c6f0d1f6a10")
ALL_CHOICES = tuple(c.value for c in Choice)


@dataclass(frozen=True)
class Spec:
    title: str
    body_markdown: str
    action: str
    arguments: dict[str, Any]
    choices: tuple[str, ...]
    schema: dict[str, Any] | None
    assignee_kind: str
    assignee_name: str
    on_expiry: str
    approvals: int = 1
    requester: str = ""
    escalate_to: str = ""


def ask(
    title: str,
    body_markdown: str = "",
    *,
    action: str = "",
    arguments: Mapping[str, Any] | None = None,
    decisions: Iterable[str] = ALL_CHOICES,
    schema: Mapping[str, Any] | None = None,
    assignees: str | None = None,
    timeout: float | timedelta | None = None,
    on_expiry: str = "reject",
    approvals: int = 1,
    requester: str | None = None,
    escalate_after: float | timedelta | None = None,
    escalate_to: str | None = None,
    remind_before: float | timedelta | None = None,
) -> Decision:
    """Publish a request to the inbox and wait (parked, durably) for a reviewer's decision.

    ``decisions`` lists what reviewers may answer (approve, reject, edit, respond);
    ``assignees`` is ``"user:<username>"`` or ``"group:<name>"``; ``timeout`` (seconds or a
    timedelta, None for no deadline) counts from the first call, across restarts; when it
    passes, the result is an expired Decision (``on_expiry`` "reject" or "approve") or, with
    ``on_expiry="raise"``, a ``RequestExpired`` error.

    ``approvals=N`` needs N distinct reviewers to approve (any rejection ends it; an edit
    resets the approvals); ``requester`` (a username) may not decide its own request.
    ``escalate_after`` with ``escalate_to`` ("user:<name>" or "group:<name>") reassigns an
    undecided request when that time passes; ``remind_before`` notifies the assignee that
    long before the deadline. Both are part of this durable wait: a restart neither loses nor
    repeats them.
    """
    try:
        durable.workflow_id()
    except durable.NotInWorkflow:
        raise durable.NotInWorkflow("inbox.ask() waits durably, so call it inside a @durable.workflow.") from None
    spec = _spec(title, body_markdown, action, arguments, decisions, schema, assignees, on_expiry)
    spec = _team_spec(spec, approvals, requester, escalate_after, escalate_to, remind_before)
    asked_at = durable.now()
    deadline = None if timeout is None else asked_at + _duration(timeout)
    escalate_at = None if escalate_after is None else asked_at + _duration(escalate_after)
    published = publish_request(spec, deadline, escalate_at)
    request_id = forks.request_id_for(durable.workflow_id(), published)  # a fork's own copy
    durable.set_event("inbox", {"request_id": request_id, "title": spec.title, "state": "waiting"})
    timers = _timers(request_id, spec, deadline, escalate_at, remind_before)
    decision = _wait(request_id, spec, deadline, published, timers)
    durable.set_event("inbox", {"request_id": request_id, "title": spec.title, "state": str(decision.outcome)})
    if decision.expired and spec.on_expiry == OnExpiry.RAISE:
        raise RequestExpired(request_id, spec.title)
    return decision


def _timers(
    request_id: str,
    spec: Spec,
    deadline: datetime | None,
    escalate_at: datetime | None,
    remind_before: float | timedelta | None,
) -> list[Timer]:
    timers = []
    if escalate_at is not None:
        timers.append(Timer(escalate_at, lambda: escalate(request_id, spec.escalate_to)))
    if remind_before is not None and deadline is not None:
        remind_at = deadline - _duration(remind_before)
        timers.append(Timer(remind_at, lambda: notifying.notify(request_id, notifying.DEADLINE)))
    return sorted(timers, key=lambda t: t.at)


def _wait(
    request_id: str, spec: Spec, deadline: datetime | None, published: str, timers: list[Timer] | None = None
) -> Decision:
    timers = list(timers or [])
    while True:
        # Escalations and reminders fall due inside this wait: a recv that times out at the
        # soonest of them, then the due one runs (once: its steps are checkpointed).
        now = durable.now() if deadline is not None or timers else None
        while timers and now is not None and timers[0].at <= now:
            timers.pop(0).act()
        wake = min([t for t in [deadline, *(t.at for t in timers)] if t is not None], default=None)
        left = None if wake is None or now is None else max(0.0, (wake - now).total_seconds())
        message = durable.recv(INBOX_TOPIC, timeout=left)
        if message is None and wake != deadline:
            continue  # a timer's moment came, not the deadline
        if message is None:
            message = close_expired(request_id)
            if message is None:
                return Decision(Outcome.EXPIRED, request_id, dict(spec.arguments), on_expiry=spec.on_expiry)
        fields = wire.parse(message)
        # A decision for an older request of this run (or anything malformed) is consumed and skipped.
        # A fork replays the decision its original received for the request it published.
        if fields is not None and fields["request_id"] in (request_id, published):
            return _decision(fields, spec)


def _decision(fields: dict[str, str], spec: Spec) -> Decision:
    choice = fields["choice"]
    outcome = {
        Choice.APPROVE: Outcome.APPROVED,
        Choice.REJECT: Outcome.REJECTED,
        Choice.EDIT: Outcome.EDITED,
        Choice.RESPOND: Outcome.RESPONDED,
    }[Choice(choice)]
    arguments = wire.edited_arguments(fields) if outcome == Outcome.EDITED else dict(spec.arguments)
    return Decision(
        outcome,
        fields["request_id"],
        arguments,
        reason=fields["reason"],
        text=fields["response"],
        reviewer=fields["reviewer"],
        decided_at=datetime.fromisoformat(fields["decided_at"]),
        approvers=wire.approvers(fields),
    )


@durable.step(name=PUBLISH_STEP, retries=DB_STEP_RETRIES, interval=DB_STEP_INTERVAL)
def publish_request(spec: Spec, deadline: datetime | None, escalate_at: datetime | None = None) -> str:
    """Create the Request row; its id comes from the step id, so a retried step finds its own row."""
    request_id = uuid.uuid5(REQUEST_NAMESPACE, durable.step_id())
    run_id = durable.workflow_id()
    agent = WorkflowRun.objects.filter(id=run_id).values_list("name", flat=True).first() or ""
    Request.objects.get_or_create(
        id=request_id,
        defaults={
            "run_id": run_id,
            "agent": agent,
            "title": spec.title,
            "body_markdown": spec.body_markdown,
            "action": spec.action,
            "arguments": spec.arguments,
            "schema": spec.schema,
            "choices": list(spec.choices),
            "assignee_kind": spec.assignee_kind,
            "assignee_name": spec.assignee_name,
            "deadline": deadline,
            "on_expiry": spec.on_expiry,
            "approvals_needed": spec.approvals,
            "requester": spec.requester,
            "escalate_at": escalate_at,
            "escalate_to": spec.escalate_to,
        },
    )
    if spec.assignee_kind:
        # Started from inside the step (a run of its own, idempotent by its id), not as an operation
        # of the agent: agents parked before notifications existed replay the same operations.
        notifying.notify(str(request_id), notifying.ASSIGNED)
    return str(request_id)


@durable.step(name="inbox.close_expired", retries=DB_STEP_RETRIES, interval=DB_STEP_INTERVAL)
def close_expired(request_id: str) -> dict[str, str] | None:
    """Mark the request expired, unless a reviewer's decision got in first: then return it,
    so a decision that was recorded is always the one the agent acts on."""
    with transaction.atomic():
        request = Request.objects.select_for_update().get(id=request_id)
        if request.status == RequestStatus.DECIDED:
            return wire.message_for(request.decision)
        request.status = RequestStatus.EXPIRED
        request.closed_at = timezone.now()
        request.save(update_fields=["status", "closed_at"])
    return None


def _team_spec(
    spec: Spec,
    approvals: int,
    requester: str | None,
    escalate_after: float | timedelta | None,
    escalate_to: str | None,
    remind_before: float | timedelta | None,
) -> Spec:
    if isinstance(approvals, bool) or not isinstance(approvals, int) or not 1 <= approvals <= 20:
        raise ValueError(f"approvals is how many distinct reviewers must approve, 1 to 20, not {approvals!r}.")
    if (escalate_after is None) != (escalate_to is None):
        raise ValueError('Escalation needs both escalate_after (a timedelta) and escalate_to ("group:<name>").')
    if escalate_after is not None:
        _duration(escalate_after)
    if remind_before is not None:
        _duration(remind_before)
    target = ":".join(_assignee(escalate_to)) if escalate_to else ""
    return replace(spec, approvals=approvals, requester=requester or "", escalate_to=target)


def _duration(timeout: float | timedelta) -> timedelta:
    if isinstance(timeout, timedelta):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"timeout is seconds (>= 0), a timedelta or None, not {timeout!r}.")
    return timedelta(seconds=timeout)


def _spec(
    title: str,
    body_markdown: str,
    action: str,
    arguments: Mapping[str, Any] | None,
    decisions: Iterable[str],
    schema: Mapping[str, Any] | None,
    assignees: str | None,
    on_expiry: str,
) -> Spec:
    if not isinstance(title, str) or not title.strip():
        raise ValueError("inbox.ask() needs a title: one line saying what the reviewer decides.")
    choices = tuple(dict.fromkeys(decisions))
    unknown = [c for c in choices if c not in ALL_CHOICES]
    if unknown or not choices:
        raise ValueError(f"decisions must be some of {', '.join(ALL_CHOICES)}; got {list(decisions)!r}.")
    if on_expiry not in OnExpiry.values:
        raise ValueError(f"on_expiry must be one of {', '.join(OnExpiry.values)}, not {on_expiry!r}.")
    args = schemas.as_plain_json(dict(arguments or {}), "The action's arguments")
    plain_schema = None if schema is None else schemas.as_plain_json(dict(schema), "The arguments schema")
    if plain_schema is not None:
        schemas.check_schema(plain_schema)
        problems = schemas.errors(args, plain_schema)
        if problems:
            raise ValueError(f"The proposed arguments do not match their own schema: {'; '.join(problems)}")
    kind, name = _assignee(assignees)
    return Spec(title.strip()[:300], body_markdown or "", action, args, choices, plain_schema, kind, name, on_expiry)


def _assignee(assignees: str | None) -> tuple[str, str]:
    if not assignees:
        return "", ""
    kind, _, name = assignees.partition(":")
    if kind not in (Request.USER, Request.GROUP) or not name:
        raise ValueError(f'assignees is "user:<username>" or "group:<group name>", not {assignees!r}.')
    return kind, name
