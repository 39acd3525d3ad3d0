"""Group commit: the checkpoints that a worker's threads record at the same moment share one
statement and one commit.

A checkpoint must be committed before its run goes on, and each commit costs the server a
transaction and a disk flush whatever it holds. So a thread that has a checkpoint to write
while another thread's write is in flight queues it; when that write returns, the oldest queued
thread becomes the writer and takes everything queued so far in one multi-row statement (on
SQLite, one transaction: ``sqlitesql``). Alone,
a thread writes at once, as it would without this; under load, commits carry many checkpoints.
Only writes outside a transaction are grouped: one inside a caller's transaction must commit
or roll back with it.
"""

import threading
from dataclasses import dataclass, field

from . import pgsql, sqlitesql
from .models import Checkpoint


@dataclass
class _Write:
    cp: Checkpoint
    owner: str
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # promoted: this thread writes the next batch
    done: bool = False
    outcome: bool | BaseException = False  # held (the run is still this owner's), or the error


class CheckpointWriter:
    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.lock = threading.Lock()
        self.queue: list[_Write] = []
        self.writing = False

    def write(self, cp: Checkpoint, owner: str) -> bool:
        """Insert ``cp`` (alone or with others) and tell whether ``owner`` still holds its run.
        Raises what the insert raised (IntegrityError: another worker recorded this seq)."""
        me = _Write(cp, owner)
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
            self._insert(batch)
        finally:
            with self.lock:
                if self.queue:
                    self.queue[0].lead = True
                    self.queue[0].ready.set()
                else:
                    self.writing = False
        return _result(me)

    def _insert(self, batch: list[_Write]) -> None:
        outcomes: list[bool | BaseException]
        try:
            if not pgsql.enabled(self.alias):  # SQLite: one transaction
                outcomes = sqlitesql.insert_checkpoints(self.alias, [(w.cp, w.owner) for w in batch])
            elif len(batch) == 1:
                outcomes = [pgsql.insert_checkpoint(self.alias, batch[0].cp, batch[0].owner)]
            else:
                outcomes = pgsql.insert_checkpoints(self.alias, [(w.cp, w.owner) for w in batch])
        except BaseException as exc:  # every thread in the batch sees the error, as if alone
            outcomes = [exc] * len(batch)
        for write, outcome in zip(batch, outcomes, strict=True):
            write.outcome, write.done = outcome, True
            write.ready.set()


def _result(write: _Write) -> bool:
    if isinstance(write.outcome, BaseException):
        raise write.outcome
    return write.outcome


_writers: dict[str, CheckpointWriter] = {}
_writers_lock = threading.Lock()


def writer(alias: str) -> CheckpointWriter:
    with _writers_lock:
        if alias not in _writers:
            _writers[alias] = CheckpointWriter(alias)
        return _writers[alias]
