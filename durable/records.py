"""Typed values that cross between the run store and its callers: what to write, what a claim asks
for, what it leased. Frozen, so nothing is filled in on the way back."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Checkpoint


@dataclass(frozen=True)
class NewRun:
    """What ``durable.start`` writes: a run that is ready at ``created_at``."""

    id: str
    name: str
    target: str
    inputs: str
    queue: str
    priority: int
    parent_id: str | None
    created_at: datetime
    max_recovery_attempts: int
    timeout_at: datetime | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True)
class ClaimRequest:
    """Up to ``limit`` runnable runs to lease to ``owner`` for ``lease``: due ones (deadline or
    lease passed) first, then enqueued ones by priority; from queue ``only``, or ``queues`` (all
    if None), minus ``exclude``. With ``version``, a run that started under another application
    version is left alone (one that never started takes this version); ``started_only``: only runs
    that started already (a draining worker finishes its own, and starts nothing new).
    ``look_first``: on SQLite, read whether anything is runnable before taking the write lock
    (for a claim that often finds nothing: the loop's, not one a wake-up asked for).
    ``takeover`` False: leave the runs whose lease ran out to a later claim (the index of
    running runs holds a dead entry for each run that parked or ended since the last vacuum, and
    looking reads them all: see ``WorkflowRun.Meta``)."""

    owner: str
    lease: timedelta
    limit: int
    only: str | None = None
    queues: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    version: str | None = None
    started_only: bool = False
    look_first: bool = False
    takeover: bool = True


@dataclass(frozen=True)
class ClaimedRun:
    """A run leased to a worker, as it was before the claim (``status``, ``started_at``), with
    its checkpoints by seq when the claim read them (``history``; None: read them on demand)."""

    id: str
    name: str
    target: str
    inputs: str
    queue: str
    status: str
    recovery_attempts: int
    max_recovery_attempts: int
    started_at: datetime | None
    forked_from: str
    parent_id: str | None
    history: "dict[int, Checkpoint] | None" = field(default=None, compare=False)
    # The recv the claim completed with the message that woke the run (PostgreSQL), if any.
    received_seq: int | None = field(default=None, compare=False)

    @property
    def recovered(self) -> bool:
        """Taken over from a worker whose lease ran out."""
        return self.status == "RUNNING"

    @property
    def has_history(self) -> bool:
        return self.started_at is not None or bool(self.forked_from)


@dataclass(frozen=True)
class Finished:
    """The end of a run as recorded: whether it was still the owner's, and the runs leased with
    it for the thread's next turn; ``looked``: whether it looked for any (none were there)."""

    recorded: bool
    leased: tuple[ClaimedRun, ...] = ()
    looked: bool = False


@dataclass(frozen=True)
class Received:
    """What a recv's one statement did: took a message (``body``), or parked the run and leased
    the runs asked for, for the thread's next turn."""

    body: str | None
    parked: bool
    leased: tuple[ClaimedRun, ...] = ()
