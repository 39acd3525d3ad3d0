"""SQLite: the engine's writers in one process take turns in Python before they take the
database's write lock.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps in
its busy handler and tries again, in steps of 1, 2, 5, 10, 15, 20, 25, 50 and 100 ms: among a
worker's eight threads a step's checkpoint waited 27 ms at p90 and 650 ms at p99 while the lock
was free most of that time (py-spy and statement timings, 3-step workflows). Queued on a lock
here instead, the next writer begins the moment the last one commits. Other processes (a web
server, a client starting runs) still meet the worker in the busy handler, but now one writer
at a time from it instead of eight.

Only an outermost transaction takes a turn. One inside a caller's transaction must not: its
caller's BEGIN holds the database's lock already, and waiting here while holding it would stall
the writer whose turn it is until the busy timeout.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

# Reentrant: the callbacks a commit runs (transaction.on_commit: signals, wake-ups) run before
# the turn is given back, and may write in turns of their own.
_turns: dict[str, threading.RLock] = {}
_turns_lock = threading.Lock()


@contextmanager
def atomic(alias: str, savepoint: bool = True) -> Iterator[None]:
    """``transaction.atomic(using=alias)``, in this process's turn to write (SQLite)."""
    with turn(alias), transaction.atomic(using=alias, savepoint=savepoint):
        yield


@contextmanager
def turn(alias: str) -> Iterator[None]:
    """This process's turn to write on ``alias``: for a transaction, or for a write statement
    outside one (which takes the database's lock by itself). Nothing to wait for except on
    SQLite, outside a transaction."""
    conn = connections[alias]
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        yield
        return
    with _turns_lock:
        lock = _turns.setdefault(alias, threading.RLock())
    with lock:
        yield
