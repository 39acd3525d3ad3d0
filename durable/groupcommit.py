"""Group commit: what a worker's threads write at the same moment shares one statement and one
commit.

Each of a run's durable operations is a committed write, and each commit costs the server a
transaction (and a disk flush, for a checkpoint) and a statement's set-up whatever it holds. So
a thread that has something to write while another thread's write of the same kind is in flight
queues it; when that write returns, the oldest queued thread becomes the writer and takes
everything queued so far in one multi-row statement (on SQLite, one transaction: ``sqlitesql``).
Alone, a thread writes at once, as it would without this; under load, statements carry many
writes. Two kinds are grouped: checkpoints (``CheckpointWriter``) and recvs that park
(``Receiver``, PostgreSQL only). Only writes outside a transaction are grouped: one inside a
caller's transaction must commit or roll back with it.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from . import pgsql, sqlitesql
from .models import Checkpoint
from .records import ClaimRequest, Received

W = TypeVar("W")


@dataclass
class _Queued(Generic[W]):
    write: W
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # promoted: this thread writes the next batch
    done: bool = False
    outcome: Any = None  # what the write returned, or the error it raised


class Group(Generic[W]):
    """A queue of writes of one kind; ``_execute`` writes a batch and returns each one's outcome
    (a value, or an exception to raise in that write's thread)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.lock = threading.Lock()
        self.queue: list[_Queued[W]] = []
        self.writing = False

    def submit(self, write: W) -> Any:
        me = _Queued(write)
        with self.lock:
            self.queue.append(me)
            me.lead = not self.writing
            self.writing = True
        while not me.lead:
            me.ready.wait()
            me.ready.clear()
            if me.done:
                return _result(me)
        with self.lock:
            batch, self.queue = self.queue, []
        try:
            self._write(batch)
        finally:
            with self.lock:
                if self.queue:
                    self.queue[0].lead = True
                    self.queue[0].ready.set()
                else:
                    self.writing = False
        return _result(me)

    def _write(self, batch: list[_Queued[W]]) -> None:
        outcomes: list[Any]
        try:
            outcomes = self._execute([q.write for q in batch])
        except BaseException as exc:  # every thread in the batch sees the error, as if alone
            outcomes = [exc] * len(batch)
        for queued, outcome in zip(batch, outcomes, strict=True):
            queued.outcome, queued.done = outcome, True
            queued.ready.set()

    def _execute(self, writes: list[W]) -> list[Any]:
        raise NotImplementedError


def _result(queued: _Queued[Any]) -> Any:
    if isinstance(queued.outcome, BaseException):
        raise queued.outcome
    return queued.outcome


class CheckpointWriter(Group[tuple[Checkpoint, str]]):
    def write(self, cp: Checkpoint, owner: str) -> bool:
        """Insert ``cp`` (alone or with others) and tell whether ``owner`` still holds its run.
        Raises what the insert raised (IntegrityError: another worker recorded this seq)."""
        return bool(self.submit((cp, owner)))

    def _execute(self, writes: list[tuple[Checkpoint, str]]) -> list[bool | BaseException]:
        if not pgsql.enabled(self.alias):  # SQLite: one transaction
            return sqlitesql.insert_checkpoints(self.alias, writes)
        if len(writes) == 1:
            return [pgsql.insert_checkpoint(self.alias, *writes[0])]
        return pgsql.insert_checkpoints(self.alias, writes)


@dataclass(frozen=True)
class _Receive:
    ask: pgsql.Ask
    then: ClaimRequest | None


class Receiver(Group[_Receive]):
    """Recvs on PostgreSQL: each takes its message or parks its run and leases the thread's next
    run (``pgsql.receive``); several threads' recvs share one statement (``pgsql.receive_many``)."""

    def receive(
        self, cp: Checkpoint, owner: str, deadline: datetime | None, then: ClaimRequest | None
    ) -> Received | None:
        """As ``pgsql.receive``: raises ``pgsql.Changed`` when the recv must run again."""
        result: Received | None = self.submit(_Receive(pgsql.Ask(cp, owner, deadline), then))
        return result

    def _execute(self, writes: list[_Receive]) -> list[Received | BaseException | None]:
        if len(writes) == 1:  # alone: the single statement (its Changed reaches the one thread)
            ask, then = writes[0].ask, writes[0].then
            return [pgsql.receive(self.alias, ask.cp, ask.owner, ask.deadline, then)]
        # One statement per next-run request (almost always the same for all, or None).
        shapes: dict[ClaimRequest | None, list[int]] = {}
        for i, w in enumerate(writes):
            shapes.setdefault(w.then, []).append(i)
        outcomes: list[Received | BaseException | None] = [None] * len(writes)
        for then, positions in shapes.items():
            done: list[Received | BaseException | None]
            try:
                done = list(pgsql.receive_many(self.alias, [writes[i].ask for i in positions], then))
            except BaseException as exc:  # this shape's statement only: the others' may have committed
                done = [exc] * len(positions)
            for i, outcome in zip(positions, done, strict=True):
                outcomes[i] = outcome
        return outcomes


_groups: dict[tuple[type, str], Any] = {}
_groups_lock = threading.Lock()


def _group(kind: type, alias: str) -> Any:
    with _groups_lock:
        if (kind, alias) not in _groups:
            _groups[(kind, alias)] = kind(alias)
        return _groups[(kind, alias)]


def writer(alias: str) -> CheckpointWriter:
    group: CheckpointWriter = _group(CheckpointWriter, alias)
    return group


def receiver(alias: str) -> Receiver:
    group: Receiver = _group(Receiver, alias)
    return group
