"""Infrastructure faults: what the database does to us, as opposed to what a workflow does.

A lost connection, a server shutting down or restarting, a serialization failure (SQLSTATE
40001, CockroachDB's everyday retry signal), a deadlock, a database that is read-only or full for
a while: none of these is a workflow's error. Each durable operation is one transaction, so when
one fails this way nothing of it was kept (or, for a lost connection, its commit is in doubt);
either way the run's history in the database is consistent, and replaying the run from it is
correct. So inside a run such a fault becomes ``DatabaseFault``, which unwinds the workflow
(workflow code cannot catch it) and makes the worker replay the run once the database answers.
Outside a run, a statement that certainly did not commit (40001, deadlock) is retried in place.
"""

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, connections

from .conf import get_settings
from .exceptions import EngineError

logger = logging.getLogger("durable.faults")
T = TypeVar("T")

# Rolled back for certain: the same transaction can simply run again.
ROLLED_BACK = {"40001", "40P01"}
# The server is going away, is read-only or full for now, or lost what the session had prepared.
UNAVAILABLE = {"57P01", "57P02", "57P03", "25006", "53100", "53200", "53300", "58030", "26000", "55000"}


class DatabaseFault(BaseException):
    """The database failed under a run (not the run's code): replay the run once it answers.

    A BaseException, like the engine's other unwinding signals, so that ``except Exception`` in
    a workflow cannot mistake it for its own error and carry on."""

    def __init__(self, cause: BaseException, what: str = "") -> None:
        super().__init__(f"{what}: {type(cause).__name__}: {cause}" if what else f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.what = what


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (Django wraps the driver's as ``__cause__``)."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "sqlstate", None) or getattr(getattr(seen, "diag", None), "sqlstate", None)
        if code:
            return str(code)
        seen = seen.__cause__ or seen.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's fault and goes away by itself (retry, reconnect)."""
    if isinstance(exc, DatabaseFault):
        return True
    if not isinstance(exc, DatabaseError):
        return _driver_connection_error(exc)
    code = sqlstate(exc)
    if code is not None:
        return code in ROLLED_BACK or code in UNAVAILABLE or code.startswith("08")
    if isinstance(exc, InterfaceError):
        return True  # "connection already closed" and kin carry no SQLSTATE
    text = str(exc).lower()
    return any(s in text for s in ("database is locked", "connection", "server closed", "terminating", "ssl"))


def is_rolled_back(exc: BaseException) -> bool:
    return sqlstate(exc) in ROLLED_BACK


def _driver_connection_error(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


@contextmanager
def engine_operation(what: str) -> Iterator[None]:
    """Around a durable operation inside a run: a transient database failure becomes
    ``DatabaseFault`` (the worker replays the run), any other database error an ``EngineError``
    that names the operation, so it is never mistaken for a lost lease or the workflow's own bug."""
    try:
        yield
    except DatabaseFault:
        raise
    except Exception as exc:
        if isinstance(exc, DatabaseError) and connections[get_settings().DATABASE].in_atomic_block:
            raise  # inside an operation's own transaction: its outermost handler decides
        if is_transient(exc):
            raise DatabaseFault(exc, what) from exc
        if isinstance(exc, DatabaseError):
            raise EngineError(
                f"The engine could not record {what}: {type(exc).__name__}: {exc}. This is a bug or a broken "
                "database schema (run `manage.py migrate`), not something the workflow did."
            ) from exc
        raise


def retry_rolled_back(alias: str, fn: Callable[[], T], attempts: int = 20) -> T:
    """Run ``fn`` (one transaction) again while it fails with a serialization failure or a
    deadlock, which leave nothing behind; inside an outer transaction the outer one must retry."""
    for attempt in range(attempts):
        try:
            return fn()
        except DatabaseError as exc:
            if not is_rolled_back(exc) or connections[alias].in_atomic_block or attempt == attempts - 1:
                raise
            backoff(attempt, cap=0.5)
    raise AssertionError("unreachable")


def backoff(attempt: int, cap: float = 5.0, base: float = 0.01) -> None:
    """Sleep before retry ``attempt`` (0, 1, ...): exponential with full jitter, so that workers
    that failed together do not retry together."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))


def reset(alias: str) -> None:
    """Drop a connection that failed, so the next query opens a fresh one (and prepares afresh)."""
    conn = connections[alias]
    try:
        if conn.in_atomic_block:
            conn.needs_rollback = True
            return
        conn.close()
    except Exception:  # closing a dead connection can fail too; Django opens a new one anyway
        conn.connection = None
