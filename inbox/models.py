"""The inbox's tables: the requests agents publish and the append-only record of decisions."""

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from durable.models import WorkflowRun

from .fields import OrderedJSONField

# Every agent waits on this one topic, so "who is waiting for a human" is
# WorkflowRun.objects.waiting(topic=INBOX_TOPIC): one indexed query.
INBOX_TOPIC = "inbox"
# The step of ``inbox.ask`` that makes a request: a run whose history lacks it made none.
PUBLISH_STEP = "inbox.publish_request"
# The inbox's own steps write only its tables, idempotently: retried at once when the database
# says so (a serialization failure, everyday under CockroachDB's SERIALIZABLE isolation) instead
# of failing the agent that asked.
DB_STEP_RETRIES, DB_STEP_INTERVAL = 5, 0.05


class Choice(models.TextChoices):
    """What a reviewer may answer (the agent lists the ones it accepts)."""

    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    EDIT = "edit", "Edit"
    RESPOND = "respond", "Respond"


class OnExpiry(models.TextChoices):
    REJECT = "reject", "Reject"
    APPROVE = "approve", "Approve"
    RAISE = "raise", "Raise an error"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Waiting"
    DECIDED = "decided", "Decided"
    EXPIRED = "expired", "Expired"
    # The agent stopped waiting without a decision: never a reviewer's answer.
    CANCELLED = "cancelled", "Run cancelled"
    ENDED = "ended", "Run ended"


# Closed because the agent's run stopped, not by a reviewer or the deadline.
STOPPED = (RequestStatus.CANCELLED, RequestStatus.ENDED)


class RequestQuerySet(models.QuerySet["Request"]):
    def waiting(self) -> "RequestQuerySet":
        """Open requests whose run is parked on the inbox topic right now (found through the engine)."""
        return self.filter(status=RequestStatus.OPEN, run__in=WorkflowRun.objects.waiting(topic=INBOX_TOPIC))

    def decided(self) -> "RequestQuerySet":
        return self.filter(status=RequestStatus.DECIDED)

    def expired(self) -> "RequestQuerySet":
        return self.filter(status=RequestStatus.EXPIRED)

    def stopped(self) -> "RequestQuerySet":
        return self.filter(status__in=STOPPED)

    def assigned_to(self, user: Any) -> "RequestQuerySet":
        """Requests naming ``user`` or one of their groups (a subquery: no extra round trip)."""
        groups = user.groups.values("name")
        return self.filter(
            Q(assignee_kind=Request.USER, assignee_name=user.get_username())
            | Q(assignee_kind=Request.GROUP, assignee_name__in=groups)
        )


class Request(models.Model):
    """One question an agent run asked a human. Immutable once published, except its status."""

    USER = "user"
    GROUP = "group"

    id = models.UUIDField(primary_key=True, editable=False, help_text="Derived from the run and the step that asked.")
    # No database constraint: the engine owns its rows and may prune them; the audit trail stays.
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="inbox_requests"
    )
    agent = models.CharField(max_length=255, db_index=True, help_text="The workflow's name.")
    title = models.CharField(max_length=300)
    body_markdown = models.TextField(blank=True, default="")
    action = models.CharField(max_length=255, blank=True, default="")
    # JSON text, not jsonb: the reviewer sees the keys in the order the agent gave them.
    arguments = OrderedJSONField(default=dict, blank=True)
    schema = OrderedJSONField(null=True, blank=True)
    choices = models.JSONField(default=list, help_text="The decisions the agent accepts.")
    assignee_kind = models.CharField(max_length=8, blank=True, default="", choices=[(USER, "user"), (GROUP, "group")])
    assignee_name = models.CharField(max_length=150, blank=True, default="")
    deadline = models.DateTimeField(null=True, blank=True)
    on_expiry = models.CharField(max_length=8, choices=OnExpiry.choices, default=OnExpiry.REJECT)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Quorum: how many distinct reviewers must approve; ``round`` counts edits (an edit resets the approvals).
    approvals_needed = models.PositiveSmallIntegerField(default=1)
    approvals = models.JSONField(default=list, blank=True, help_text="Who approved in this round, in order.")
    round = models.PositiveIntegerField(default=0)
    proposed_arguments = OrderedJSONField(null=True, blank=True, help_text="The agent's proposal, once edited.")
    requester = models.CharField(max_length=150, blank=True, default="", help_text="May not approve: four eyes.")
    # Escalation: reassigned to escalate_to at escalate_at, by the agent's own durable wait.
    escalate_at = models.DateTimeField(null=True, blank=True)
    escalate_to = models.CharField(max_length=160, blank=True, default="")
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Claim ("I'm on it"): advisory, expires; anyone allowed may still decide.
    claimed_by = models.CharField(max_length=150, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = RequestQuerySet.as_manager()

    class Meta:
        ordering = [models.F("deadline").asc(nulls_last=True), "created_at"]
        indexes = [
            models.Index(fields=["status", "deadline"], name="inbox_request_status_idx"),
            models.Index(fields=["run", "created_at"], name="inbox_request_run_idx"),
        ]
        permissions = [("decide_request", "Can review and decide agent requests")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == RequestStatus.OPEN

    @property
    def is_stopped(self) -> bool:
        """Closed because the agent's run stopped (cancelled or ended), not by a reviewer or the deadline."""
        return self.status in STOPPED

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.deadline is not None and self.deadline <= timezone.now()

    @property
    def assignee_label(self) -> str:
        return f"{self.assignee_kind} {self.assignee_name}" if self.assignee_kind else ""

    @property
    def quorum(self) -> bool:
        return self.approvals_needed > 1

    @property
    def claim_holder(self) -> str:
        """Who holds an unexpired claim on this request, or ""."""
        if self.claimed_by and self.claimed_until is not None and self.claimed_until > timezone.now():
            return self.claimed_by
        return ""

    def allows(self, choice: str) -> bool:
        return choice in self.choices

    def shown_digest(self) -> str:
        """sha256 of what a reviewer is shown, so the audit proves what they decided on."""
        shown = {"title": self.title, "body": self.body_markdown, "action": self.action, "arguments": self.arguments}
        return hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class AppendOnly(Exception):
    pass


class DecisionRecord(models.Model):
    """The audit entry of a reviewer's decision. Written once, never changed or deleted."""

    # One-to-one: the database's unique index is what makes a double click or two reviewers
    # at once yield exactly one decision.
    request = models.OneToOneField(Request, on_delete=models.PROTECT, related_name="decision")
    run_id = models.CharField(max_length=255, db_index=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reviewer_name = models.CharField(max_length=150, help_text="Kept even if the user is deleted.")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    reason = models.TextField(blank=True, default="", help_text="Why it was rejected.")
    response = models.TextField(blank=True, default="", help_text="The reviewer's answer to the agent.")
    arguments_before = OrderedJSONField(default=dict)
    arguments_after = OrderedJSONField(null=True, blank=True, help_text="The reviewer's edit, if any.")
    shown_digest = models.CharField(max_length=64)
    decided_at = models.DateTimeField(default=timezone.now)
    approvers = models.JSONField(default=list, blank=True, help_text="Every approver, when a quorum decided.")

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.verb} by {self.reviewer_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("A decision record is append-only: it cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnly("A decision record is append-only: it cannot be deleted.")

    @property
    def verb(self) -> str:
        """What the reviewer did, as in "bob approved": approved, rejected, edited or answered."""
        return {"approve": "approved", "reject": "rejected", "edit": "edited", "respond": "answered"}[self.choice]


class NoteKind(models.TextChoices):
    """What happened to a request besides its final decision (its history, in order)."""

    COMMENT = "comment", "Comment"
    APPROVAL = "approval", "Approval"
    EDIT = "edit", "Edit"
    ESCALATED = "escalated", "Escalated"
    CLAIMED = "claimed", "Claimed"
    RELEASED = "released", "Released"


class Note(models.Model):
    """An append-only entry in a request's history: a comment, one reviewer's approval or edit
    toward a quorum, an escalation, a claim."""

    # No database constraint (as Request.run): emptying the requests table (bench/inbox_list.py
    # TRUNCATEs it) must not be refused because of its history rows.
    request = models.ForeignKey(Request, on_delete=models.DO_NOTHING, db_constraint=False, related_name="notes")
    kind = models.CharField(max_length=12, choices=NoteKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150, blank=True, default="", help_text="Empty for the system.")
    text = models.TextField(blank=True, default="")
    round = models.PositiveIntegerField(default=0)
    arguments_after = OrderedJSONField(null=True, blank=True)
    shown_digest = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="inbox_note_request_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.author_name or 'the inbox'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("A request's history is append-only.")
        super().save(*args, **kwargs)


class ApiToken(models.Model):
    """A reviewer's API token. Only its SHA-256 is stored: the token is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for (a chat bot, a phone).")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The token's first characters, to tell tokens apart.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One notification of one request's event on one channel; its key is the idempotency key."""

    key = models.CharField(max_length=120, primary_key=True, help_text="request id:event:channel")
    request = models.ForeignKey(Request, on_delete=models.DO_NOTHING, db_constraint=False, related_name="notifications")
    event = models.CharField(max_length=16)
    channel = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key
