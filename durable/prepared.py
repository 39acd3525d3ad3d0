"""Server-side prepared statements for the engine's hot path, on Django's own connections.

Django turns psycopg's preparing off (``prepare_threshold=None``, for poolers); these cursors turn
it on for the engine's statements only, and stay inside Django's cursor wrapper, so they take part
in the current transaction, show in query logging and raise Django's exceptions.
"""

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

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


def plan_generically(alias: str) -> None:
    """From now on, the connections this process opens on ``alias`` keep one generic plan per
    prepared statement (``plan_cache_mode = force_generic_plan``), the current thread's too.

    Left to choose (``auto``), the server plans a prepared statement for its values five times,
    then keeps the generic plan unless it looks dearer than those. With statistics taken while
    no run was enqueued, it looked dearer: a worker's connections then planned the claim anew at
    every execution (2 ms for a recv's park) and sorted every enqueued run to pick one (a worker
    of 32 threads parked 1,120 runs/s instead of 2,506). The engine's statements are written for
    their generic plans (tests plan them on empty tables). Only prepared statements are
    affected: Django prepares none of its own."""
    connection_created.connect(_created, dispatch_uid="durable.prepared.plan_generically")
    conn = connections[alias]
    if conn.connection is not None and not conn.in_atomic_block:
        _generic(conn)


def _created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias == get_settings().DATABASE:
        _generic(connection)


def _generic(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql" and get_settings().PREPARED_STATEMENTS:
        with connection.cursor() as c:
            c.execute("SET plan_cache_mode = force_generic_plan")


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
        import psycopg
        from django.db.backends.postgresql import base

        class PreparedCursor(base.CursorMixin, psycopg.RawCursor):  # type: ignore[misc,name-defined]
            """Prepares what it executes. Django turns psycopg's preparing off on its connections
            (``prepare_threshold=None``, for poolers); it is turned on for these statements only.
            A raw cursor: the placeholders are numbered here, once per statement (``numbered``)."""

            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                with _preparing(self.connection):
                    if params is None:
                        return super().execute(query, **kwargs)
                    sql, order = numbered(query)
                    return super().execute(sql, [params[key] for key in order], **kwargs)

            def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
                sql, order = numbered(query)
                rows = [[params[key] for key in order] for params in params_seq]
                with _preparing(self.connection):
                    return super().executemany(sql, rows, **kwargs)

        _CLASS = PreparedCursor
    return _CLASS


@contextmanager
def _preparing(conn: Any) -> Iterator[None]:
    """psycopg prepares on ``conn`` what is executed inside: its threshold at 0, then restored."""
    threshold, conn.prepare_threshold = conn.prepare_threshold, 0
    try:
        yield
    finally:
        conn.prepare_threshold = threshold


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


@functools.lru_cache(maxsize=512)
def numbered(query: str) -> tuple[str, Sequence[str | int]]:
    """``query`` with psycopg's placeholders (``%s``, ``%(name)s``) as the server's ``$1``, ``$2``...,
    and the key of each number's parameter (a name, or the position of a ``%s``); ``%%`` is ``%``.

    psycopg does this itself on every execution of a statement longer than 4 KB (it caches
    shorter ones only), and the engine's largest statements (a recv's park with the claim of the
    thread's next run, a run's end) are longer: parsing them again was a quarter of a busy
    worker's CPU. Done once here, they go to psycopg as raw queries."""
    order: list[str | int] = []
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if match.group(0) == "%%":
            return "%"
        if name is None:
            order.append(sum(isinstance(key, int) for key in order))
            return f"${len(order)}"
        if name not in numbers:
            order.append(name)
            numbers[name] = len(order)
        return f"${numbers[name]}"

    return _PLACEHOLDER.sub(number, query), tuple(order)
