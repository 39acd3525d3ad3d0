"""System checks: settings and database set-up the engine relies on."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import connections

from .conf import get_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    s = get_settings()
    errors: list[CheckMessage] = []
    if not isinstance(s.WORKER_CONCURRENCY, int) or s.WORKER_CONCURRENCY < 1:
        errors.append(
            Error(
                f"DURABLE_WORKER_CONCURRENCY is {s.WORKER_CONCURRENCY!r}.",
                hint="Set it to a whole number of threads, 1 or more.",
                id="durable.E001",
            )
        )
    if s.LEASE_SECONDS <= 0 or s.POLL_INTERVAL <= 0:
        errors.append(
            Error(
                "DURABLE_LEASE_SECONDS and DURABLE_POLL_INTERVAL must be positive.",
                hint="The defaults are 30 and 1.0 seconds.",
                id="durable.E002",
            )
        )
    elif s.LEASE_SECONDS < 3 * s.POLL_INTERVAL:
        errors.append(
            Warning(
                "DURABLE_LEASE_SECONDS is shorter than three poll intervals: busy workers may lose runs they hold.",
                hint="Raise DURABLE_LEASE_SECONDS or lower DURABLE_POLL_INTERVAL.",
                id="durable.W001",
            )
        )
    if s.DATABASE not in settings.DATABASES:
        errors.append(
            Error(
                f"DURABLE_DATABASE is {s.DATABASE!r}, which is not in DATABASES.",
                hint="Name one of the aliases in DATABASES.",
                id="durable.E003",
            )
        )
    elif connections[s.DATABASE].vendor == "cockroachdb" and s.USE_NOTIFY:
        errors.append(
            Warning(
                "DURABLE_USE_NOTIFY is on, but the database is CockroachDB, which has no LISTEN/NOTIFY: workers "
                "find new work only by polling.",
                hint="Set DURABLE_USE_NOTIFY = False to say so, and choose DURABLE_POLL_INTERVAL for the "
                "wake-up latency you need (each worker polls once per interval).",
                id="durable.W003",
            )
        )
    elif connections[s.DATABASE].vendor == "sqlite":
        options = settings.DATABASES[s.DATABASE].get("OPTIONS", {})
        if options.get("transaction_mode") != "IMMEDIATE":
            errors.append(
                Warning(
                    "SQLite is used without transaction_mode IMMEDIATE: a worker and the web server writing at "
                    "once can fail with 'database is locked'.",
                    hint='Add "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": '
                    '"PRAGMA journal_mode=WAL;"} to the database settings.',
                    id="durable.W002",
                )
            )
    return errors
