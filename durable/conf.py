"""Engine settings: every ``DURABLE_*`` setting with its default, in one place."""

import functools
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Threads per worker process that execute runs.
    "WORKER_CONCURRENCY": 8,
    # Seconds between polls for runnable runs when no notification arrives.
    "POLL_INTERVAL": 1.0,
    # Seconds a worker's claim on a run lasts without renewal; a dead worker's
    # runs are taken over by others after this.
    "LEASE_SECONDS": 30.0,
    # Use PostgreSQL LISTEN/NOTIFY for wake-ups. False forces polling (CockroachDB).
    "USE_NOTIFY": True,
    # A run whose worker died more than this many times stops with an error.
    "MAX_RECOVERY_ATTEMPTS": 50,
    # Workflow modules to import when a worker starts (besides <app>.workflows).
    "IMPORTS": [],
    # Database alias the engine uses.
    "DATABASE": "default",
    # PostgreSQL: prepare the engine's hot statements on each connection. False behind a
    # transaction-mode pooler that cannot keep them (PgBouncer before 1.21).
    "PREPARED_STATEMENTS": True,
    # The application version a worker serves ("": the DURABLE_APP_VERSION environment
    # variable, else a hash of the workflow modules; see durable/versions.py).
    "APP_VERSION": "",
}


@dataclass(frozen=True)
class DurableSettings:
    WORKER_CONCURRENCY: int
    POLL_INTERVAL: float
    LEASE_SECONDS: float
    USE_NOTIFY: bool
    MAX_RECOVERY_ATTEMPTS: int
    IMPORTS: list[str]
    DATABASE: str
    PREPARED_STATEMENTS: bool
    APP_VERSION: str

    @property
    def notify_enabled(self) -> bool:
        """PostgreSQL's NOTIFY, or on SQLite a datagram to the local workers (see ``notify``)."""
        return self.USE_NOTIFY and connections[self.DATABASE].vendor in ("postgresql", "sqlite")


@functools.cache
def get_settings() -> DurableSettings:
    """The settings, read on first use (not at import) and again after ``override_settings``."""
    values = {f.name: getattr(django_settings, f"DURABLE_{f.name}", DEFAULTS[f.name]) for f in fields(DurableSettings)}
    return DurableSettings(**values)


@receiver(setting_changed)
def _reread(setting: str, **kwargs: Any) -> None:
    if setting.startswith("DURABLE_"):
        get_settings.cache_clear()
