"""Server-side prepared statements for the engine's hot path, on Django's own connections.

Django turns psycopg's preparing off (``prepare_threshold=None``, for poolers); these cursors turn
it on for the engine's statements only, and stay inside Django's cursor wrapper, so they take part
in the current transaction, show in query logging and raise Django's exceptions.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

from .conf import get_settings


@contextmanager
def cursor(alias: str) -> Iterator[Any]:
    """A cursor on ``alias`` that binds parameters on the server and prepares each statement
    on its first execution (a plain Django cursor with ``DURABLE_PREPARED_STATEMENTS = False``)."""
    conn = connections[alias]
    if not get_settings().PREPARED_STATEMENTS:
        with conn.cursor() as plain:
            yield plain
        return
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    with conn.wrap_database_errors:
        raw = _prepared_cursor_class()(conn.connection)
    wrapped = conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)
    with wrapped:
        yield wrapped


def fetchall(alias: str, sql: str, params: Any) -> list[tuple[Any, ...]]:
    with cursor(alias) as c:
        c.execute(sql, params)
        return list(c.fetchall())


def fetchone(alias: str, sql: str, params: Any) -> tuple[Any, ...] | None:
    with cursor(alias) as c:
        c.execute(sql, params)
        row: tuple[Any, ...] | None = c.fetchone()
        return row


_CLASS: Any = None


def _prepared_cursor_class() -> Any:
    global _CLASS
    if _CLASS is None:
        from django.db.backends.postgresql import base

        class PreparedCursor(base.ServerBindingCursor):  # type: ignore[misc,name-defined]
            """Prepares what it executes. Django turns psycopg's preparing off on its connections
            (``prepare_threshold=None``, for poolers); it is turned on for these statements only."""

            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                conn = self.connection
                threshold, conn.prepare_threshold = conn.prepare_threshold, 0
                try:
                    return super().execute(query, params, **kwargs)
                finally:
                    conn.prepare_threshold = threshold

        _CLASS = PreparedCursor
    return _CLASS
