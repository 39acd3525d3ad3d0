"""Wake-ups: PostgreSQL NOTIFY on start and send, LISTEN in workers; polling covers the rest."""

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections, transaction

from .conf import get_settings

logger = logging.getLogger("durable.notify")
CHANNEL = "durable_runnable"


def workers_after_commit() -> None:
    """Tell listening workers that a run became runnable, once the transaction commits."""
    settings = get_settings()
    if settings.notify_enabled:
        transaction.on_commit(lambda: _notify(settings.DATABASE), using=settings.DATABASE)


def _notify(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class Listener(threading.Thread):
    """Calls ``on_notify`` whenever a notification arrives (and after each reconnection, for
    what was sent while it was away); reconnects if the server goes away."""

    def __init__(self, alias: str, on_notify: Callable[[], None]) -> None:
        super().__init__(name="durable-listener", daemon=True)
        self.alias = alias
        self.on_notify = on_notify
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg

        delay = 0.1
        try:
            while not self.stopping.is_set():
                try:
                    with psycopg.connect(**_conninfo(self.alias), autocommit=True) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        delay = 0.1
                        self.on_notify()  # anything sent while we were away
                        while not self.stopping.is_set():
                            for _ in conn.notifies(timeout=1.0, stop_after=1):
                                self.on_notify()
                except psycopg.Error as exc:
                    logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
                    self.stopping.wait(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            connections.close_all()  # on_notify may have used this thread's connection

    def stop(self) -> None:
        self.stopping.set()


def _conninfo(alias: str) -> dict[str, Any]:
    s = connections[alias].settings_dict
    info = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"], "host": s["HOST"], "port": s["PORT"]}
    return {k: v for k, v in info.items() if v}
