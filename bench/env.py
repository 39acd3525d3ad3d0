"""The benchmark database: created and migrated on first use, emptied between figures."""

import os
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
OUR_DB = os.environ.get("BENCH_DB_NAME", "durable_bench")
DBOS_DB = os.environ.get("BENCH_DBOS_DB_NAME", "dbos_bench")


# Measured as deployed: DEBUG off (it records every query in memory and adds a cursor wrapper).
PRODUCTION_LIKE = {"DEBUG": "0", "SECRET_KEY": "durable-bench-only-not-a-secret"}


def server_url() -> str:
    """The server part of DATABASE_URL (or the local server), without a database name."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres://", "postgresql://")):
        return DEFAULT_SERVER
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def database_url(name: str) -> str:
    return f"{server_url()}/{name}"


def libpq_url(name: str) -> str:
    """The same URL for libpq and SQLAlchemy, which want the postgresql:// scheme."""
    return database_url(name).replace("postgres://", "postgresql://", 1)


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> str:
    """Point Django at the benchmark database, migrate it, and return its URL."""
    ensure_database(OUR_DB)
    url = database_url(OUR_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.update(PRODUCTION_LIKE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return url


def reset() -> None:
    """Empty the engine's tables so every figure starts from the same state."""
    from django.db import connection

    from durable.models import Checkpoint, Event, Message, WorkflowRun

    tables = [m._meta.db_table for m in (Checkpoint, Event, Message, WorkflowRun)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
