"""inbox_list_ms/_queries at 100, 10,000 and 100,000 waiting agents: the first page of the inbox as a
signed-in reviewer sees it, server time (through Django's test client, no network) and queries.

Up to 10,000 (100 with --quick) the agents are real: started, run by a worker up to ``inbox.ask`` and parked there.
Beyond that the waiting agents are copies of those (their runs and requests, new ids), inserted in
bulk: asking through the worker runs at about 120 agents/s here, so 100,000 real ones would take
14 of the full run's 20 minutes, and the page reads the rows, not how they came to be."""

import statistics
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from durable.models import Status, WorkflowRun

from . import env
from .harness import Bench
from .parked import insert
from .report import Figure
from .workers import Workers, wait_for
from .workflows import asking_agent


def run(bench: Bench) -> list[Figure]:
    small, large, largest = bench.size(20, 100), bench.size(100, 10_000), bench.size(300, 100_000)
    try:
        url = reverse("inbox:list")
    except NoReverseMatch:
        note = "skipped: the inbox has no 'inbox:list' page yet"
        return [Figure(name, None, unit, note=note) for name, unit in _names()]
    env.reset()
    _empty_inbox()
    client = _reviewer()
    figures = []
    with Workers(bench.url) as workers:
        workers.start(concurrency=16)
        for size, label in ((small, "100"), (large, "10k"), (largest, "100k")):
            real = min(size, large)  # beyond it, copies (the module's docstring)
            insert(real - _waiting(), asking_agent, args=lambda i, base=_waiting(): [base + i])
            wait_for(lambda s=real: _waiting() >= s, timeout=3600, what=f"{real} agents to wait", pause=0.2)
            if size > real:
                _copy_waiting(size - real)
            _analyze()
            ms, queries = _measure(client, url)
            figures += [
                Figure(f"inbox_list_ms_{label}", ms, "ms", size=size),
                Figure(f"inbox_list_queries_{label}", queries, "queries", size=size),
            ]
    return figures


def _copy_waiting(count: int) -> None:
    """About ``count`` more waiting agents (whole copies of the waiting ones): each run and its
    open request again with new ids (the copy number appended), in two statements."""
    from inbox.models import Request

    copies = -(-count // _waiting())
    runs = _copy_sql(WorkflowRun, {"id": "id || '~' || k"}, "status = 'WAITING' AND wait_topic = 'inbox'")
    # Each copy a microsecond later than the last, so that deadlines and ages stay distinct as
    # real agents' are (the page sorts by them; a thousand equal deadlines would sort as one group).
    later = "{} + k * interval '1 microsecond'"
    requests = _copy_sql(Request, {"id": "md5(id::text || '~' || k)::uuid", "run_id": "run_id || '~' || k",
                                   "deadline": later.format("deadline"), "created_at": later.format("created_at")},
                         "status = 'open'")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(runs, {"copies": copies})
        cursor.execute(requests, {"copies": copies})


def _copy_sql(model: Any, changed: dict[str, str], where: str) -> str:
    columns = [f.column for f in model._meta.concrete_fields]
    values = ", ".join(changed.get(c, f'"{c}"') for c in columns)
    table = model._meta.db_table
    return f"""
        INSERT INTO {table} ({", ".join(f'"{c}"' for c in columns)})
        SELECT {values} FROM {table} CROSS JOIN generate_series(1, %(copies)s) AS k WHERE {where}
    """


def _names() -> list[tuple[str, str]]:
    return [
        (f"inbox_list_{what}_{label}", unit)
        for label in ("100", "10k", "100k")
        for what, unit in (("ms", "ms"), ("queries", "queries"))
    ]


def _empty_inbox() -> None:
    """The previous run's requests outlive env.reset() (they point at runs without a foreign key):
    left in place, a re-run would measure its 10,000 waiting agents behind 10,000 orphaned ones."""
    from inbox.models import DecisionRecord, Request

    tables = [m._meta.db_table for m in (DecisionRecord, Request)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def _analyze() -> None:
    """Steady state: the planner has statistics (autovacuum would take up to a minute to gather
    them after the bulk load, and without them it plans a nested loop over both tables)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE durable_workflowrun, inbox_request")


def _waiting() -> int:
    return WorkflowRun.objects.filter(status=Status.WAITING, wait_topic="inbox").count()


def _reviewer() -> Client:
    from inbox.reviewers import ensure_reviewers_group

    user, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    user.groups.add(ensure_reviewers_group())
    client = Client()
    client.force_login(user)
    return client


def _measure(client: Client, url: str, repeats: int = 15) -> tuple[float, int]:
    """Median server time of the page, and its query count (after a first request that loads
    the middleware and may reconnect, which would hide the queries from the count)."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    # Count now: the log is cleared by the next request, and captured_queries reads it lazily.
    count = len(queries.captured_queries)
    if response.status_code != 200:
        raise RuntimeError(f"the inbox answered {response.status_code} to a reviewer")
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), count
