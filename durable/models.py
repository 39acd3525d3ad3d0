"""The engine's tables: runs, their checkpoints, notifications and events."""

import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import serialization
from .queues import DEFAULT


def new_id() -> str:
    return str(uuid.uuid4())


class Status(models.TextChoices):
    ENQUEUED = "ENQUEUED", "Enqueued"
    RUNNING = "RUNNING", "Running"
    WAITING = "WAITING", "Waiting"
    SUCCESS = "SUCCESS", "Succeeded"
    ERROR = "ERROR", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


TERMINAL = (Status.SUCCESS, Status.ERROR, Status.CANCELLED)
UNFINISHED = (Status.ENQUEUED, Status.RUNNING, Status.WAITING)
# A run waiting for another run's end parks on this prefix and the other run's id.
END_TOPIC_PREFIX = "durable.child:"


class WorkflowRunQuerySet(models.QuerySet["WorkflowRun"]):
    def waiting(self, topic: str | None = None) -> "WorkflowRunQuerySet":
        """Runs parked in ``recv`` (on ``topic`` if given) or a sleep, soonest deadline first."""
        qs = self.filter(status=Status.WAITING)
        if topic is not None:
            qs = qs.filter(wait_topic=topic)
        return qs.order_by(models.F("wait_until").asc(nulls_last=True), "created_at")

    def held_by(self, owner: str) -> "WorkflowRunQuerySet":
        """Runs a worker (``owner``) is executing under its lease: not cancelled, not taken over."""
        return self.filter(status=Status.RUNNING, lease_owner=owner)

    def with_status(self, *statuses: str) -> "WorkflowRunQuerySet":
        return self.filter(status__in=statuses)

    def named(self, name: str) -> "WorkflowRunQuerySet":
        return self.filter(name=name)

    def active(self) -> "WorkflowRunQuerySet":
        return self.exclude(status__in=TERMINAL)

    def finished(self) -> "WorkflowRunQuerySet":
        return self.filter(status__in=TERMINAL)

    def enqueued(self, now: datetime) -> "WorkflowRunQuerySet":
        """Enqueued runs in the order workers take them: priority, then age."""
        return self.filter(status=Status.ENQUEUED, ready_at__lte=now).order_by("priority", "ready_at")

    def due(self, now: datetime) -> "WorkflowRunQuerySet":
        """Parked runs that were woken or whose deadline passed. Kept apart from ``enqueued``
        and ``expired`` so that no scan walks another's rows: 100,000 parked runs with future
        deadlines cost a claim nothing."""
        return self.filter(status=Status.WAITING, ready_at__lte=now).order_by("ready_at")

    def expired(self, now: datetime) -> "WorkflowRunQuerySet":
        """Running runs whose worker's lease ran out: a dead worker's."""
        return self.filter(status=Status.RUNNING, ready_at__lte=now).order_by("ready_at")


class WorkflowRun(models.Model):
    id = models.CharField(primary_key=True, max_length=255, default=new_id)
    name = models.CharField(max_length=255)
    target = models.CharField(max_length=255, help_text="Import path of the workflow function.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENQUEUED)
    queue = models.CharField(max_length=100, default="default")
    priority = models.IntegerField(default=0, help_text="Lower runs first.")
    inputs = models.TextField(help_text="jsonpickle of (args, kwargs).")
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True, help_text="jsonpickle of the exception.")
    error_message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        db_constraint=False,
        db_index=False,  # indexed in Meta, without the pattern-ops copy Django adds for text columns
    )
    forked_from = models.CharField(max_length=255, blank=True, default="")
    # What a parked run waits for: a message on wait_topic, and/or wait_until.
    wait_topic = models.CharField(max_length=255, null=True, blank=True)
    wait_until = models.DateTimeField(null=True, blank=True)
    # When a worker should next look at the run: now for enqueued, the deadline for
    # a parked run, the lease expiry for a running one, NULL when nothing will happen.
    ready_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    recovery_attempts = models.IntegerField(default=0)
    max_recovery_attempts = models.IntegerField(default=50)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run's workflow timeout: when it passes, a worker cancels the run and its children.
    timeout_at = models.DateTimeField(null=True, blank=True)
    # The application version of the workers that executed it (set by its first claim): only
    # workers of that version resume it. Empty until then.
    app_version = models.CharField(max_length=64, blank=True, default="")
    deduplication_id = models.CharField(max_length=255, null=True, blank=True)

    objects = WorkflowRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["priority", "ready_at"], name="durable_run_enqueued_idx", condition=Q(status="ENQUEUED")
            ),
            models.Index(
                fields=["ready_at"],
                name="durable_run_due_idx",
                condition=Q(status="WAITING", ready_at__isnull=False),
            ),
            # Running runs by the end of their lease, apart from the parked ones: every claim adds
            # an entry here and every park or end leaves a dead one behind, which only a vacuum
            # removes. A look for runs whose lease ran out reads them all (100,000 parks: 470 pages,
            # 0.9 ms), so a thread that leases its next run with a park or an end looks only now
            # and then (``ClaimRequest.takeover``), and the parked runs' wake-ups never do.
            models.Index(
                fields=["ready_at"],
                name="durable_run_lease_idx",
                condition=Q(status="RUNNING", ready_at__isnull=False),
            ),
            models.Index(
                fields=["wait_topic", "wait_until"], name="durable_run_waiting_idx", condition=Q(status="WAITING")
            ),
            # The runs waiting for another run's end, alone: a run's end finds its waiters here
            # whatever the other waiting runs wait on. Through the index above, a plan made for any
            # topic (a prepared statement's generic plan) could not tell that few runs wait on this
            # one once most waited on one topic (100,000 agents in the inbox), and read them all.
            models.Index(
                fields=["wait_topic"],
                name="durable_run_end_waiters_idx",
                condition=Q(status="WAITING", wait_topic__startswith=END_TOPIC_PREFIX),
            ),
            models.Index(fields=["status", "created_at"], name="durable_run_status_idx"),
            # Serve the counts of a limited queue: its running runs, and the runs that hold a slot of
            # it, parked or not (started, not finished). The default queue cannot be limited
            # (queues.Queue), so its runs, most of them, stay out: every claim, park and end of one
            # would otherwise add an entry to each (12% of the parks per second, back to back).
            models.Index(
                fields=["queue"],
                name="durable_run_running_queue_idx",
                condition=Q(status=Status.RUNNING) & ~Q(queue=DEFAULT),
            ),
            models.Index(
                fields=["queue"],
                name="durable_run_holding_queue_idx",
                condition=Q(started_at__isnull=False, status__in=UNFINISHED) & ~Q(queue=DEFAULT),
            ),
            models.Index(fields=["name"], name="durable_run_name_idx"),
            # Due workflow timeouts: only unfinished runs that have one are in it.
            models.Index(
                fields=["timeout_at"],
                name="durable_run_timeout_idx",
                condition=Q(timeout_at__isnull=False, status__in=("ENQUEUED", "RUNNING", "WAITING")),
            ),
            # Serves a rate-limited queue's count of starts in its window (the default queue's runs
            # stay out, as above).
            models.Index(
                fields=["queue", "started_at"],
                name="durable_run_starts_idx",
                condition=Q(started_at__isnull=False) & ~Q(queue="default"),
            ),
            models.Index(fields=["parent"], name="durable_run_parent_idx", condition=Q(parent__isnull=False)),
        ]

        constraints = [
            # A queue refuses a second unfinished run with the same deduplication id.
            models.UniqueConstraint(
                fields=["queue", "deduplication_id"],
                name="durable_run_dedup",
                condition=Q(deduplication_id__isnull=False, status__in=("ENQUEUED", "RUNNING", "WAITING")),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.status})"

    @property
    def args(self) -> tuple[Any, ...]:
        return tuple(serialization.loads(self.inputs)[0])

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(serialization.loads(self.inputs)[1])

    @property
    def result_value(self) -> Any:
        return serialization.loads(self.output)

    @property
    def exception(self) -> BaseException | None:
        return serialization.loads(self.error) if self.error else None

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


class StepKind(models.TextChoices):
    STEP = "step", "Step"
    RECV = "recv", "Receive"
    SEND = "send", "Send"
    SLEEP = "sleep", "Sleep"
    SET_EVENT = "set_event", "Set event"
    GET_EVENT = "get_event", "Get event"
    NOW = "now", "Now"
    START = "start", "Start child"
    RESULT = "result", "Child result"
    FORK = "fork", "Fork"
    CANCEL = "cancel", "Cancel"
    RESUME = "resume", "Resume"
    READ = "read", "Read"
    WRITE_STREAM = "write_stream", "Write to stream"
    CLOSE_STREAM = "close_stream", "Close stream"


class Checkpoint(models.Model):
    """The recorded outcome of one durable operation of a run, by sequence number."""

    # Looked up by the (run, seq) constraint's index: a second index would cost every step.
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="checkpoints", db_index=False)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    name = models.CharField(max_length=255)
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    # A recv or sleep in progress has a deadline and no finished_at yet.
    deadline = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="durable_checkpoint_unique_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.name}"

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000


class Message(models.Model):
    """A durable notification to a run, consumed at most once by its ``recv``."""

    id = models.BigAutoField(primary_key=True)
    destination = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="messages", db_index=False)
    topic = models.CharField(max_length=255, default="", blank=True)
    body = models.TextField()
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    sender = models.CharField(max_length=255, blank=True, default="", help_text="Sending run id, if any.")
    created_at = models.DateTimeField(default=timezone.now)
    consumed_at = models.DateTimeField(null=True, blank=True)
    consumed_seq = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["destination"], name="durable_msg_destination_idx"),
            models.Index(
                fields=["destination", "topic", "id"],
                name="durable_msg_pending_idx",
                condition=Q(consumed_at__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "idempotency_key"],
                name="durable_msg_idempotency",
                condition=Q(idempotency_key__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"message {self.id} to {self.destination_id} on {self.topic!r}"

    @property
    def value(self) -> Any:
        return serialization.loads(self.body)


class Event(models.Model):
    """A value a run published under a key; the newest row per key is the current value."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="events", db_index=False)
    key = models.CharField(max_length=255)
    value = models.TextField()
    seq = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "key", "id"], name="durable_event_key_idx")]

    def __str__(self) -> str:
        return f"{self.key} of {self.run_id}"

    @property
    def decoded(self) -> Any:
        return serialization.loads(self.value)


class QueueLock(models.Model):
    """One row per queue with a global limit: a claim locks it, so that two workers counting the
    queue's running runs cannot both take its last slot (portable: no advisory locks, which
    CockroachDB lacks)."""

    name = models.CharField(primary_key=True, max_length=100)

    def __str__(self) -> str:
        return f"queue {self.name}"


class AppVersion(models.Model):
    """Every application version a worker has run, with when it was first seen: a worker whose
    version has a newer one drains (finishes its own runs, takes no new ones, then exits)."""

    name = models.CharField(primary_key=True, max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-first_seen_at"]

    def __str__(self) -> str:
        return f"version {self.name}"


class StreamValue(models.Model):
    """A value a run wrote to one of its streams (``durable.write_stream``), at ``position`` in
    that stream; a row with ``closed`` ends it. ``seq`` and ``item`` say which write it was: the
    operation (a write in the workflow body, or the step that wrote it) and the index among that
    step's writes, so a write repeated by a retry or a replay finds its row and is ignored."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="stream_values", db_index=False)
    key = models.CharField(max_length=255)
    position = models.PositiveIntegerField()
    seq = models.PositiveIntegerField()
    item = models.PositiveIntegerField(default=0)
    value = models.TextField(null=True, blank=True)
    closed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "key", "position"]
        constraints = [
            # Also the index a reader follows a stream by.
            models.UniqueConstraint(fields=["run", "key", "position"], name="durable_stream_position"),
            models.UniqueConstraint(fields=["run", "seq", "item"], name="durable_stream_write_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.position}] of {self.run_id}"
