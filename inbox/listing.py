"""The inbox list: a fixed number of queries, and a cost that does not grow with the inbox.

Counting every waiting request is what made a 10,000-agent inbox slow (each one is matched with
its parked run), so a tab counts at most ``INBOX_COUNT_CAP`` requests and shows "1000+" beyond,
the way big mail inboxes do; the page reuses its tab's count instead of counting again, and asks
for one row more than it shows to know whether there is a next page.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F
from django.utils.http import urlencode

from .models import Request, RequestQuerySet

TABS = ("waiting", "decided", "expired", "cancelled")
# "deadline" is each tab's own order: the soonest deadline first while waiting, else the latest closed.
SORTS = {"deadline": None, "newest": "-created_at", "oldest": "created_at"}
PAGE_SIZE = 25
COUNT_CAP = 1000
MAX_PAGE = 10**9
# What a row of the list shows; the agent's body, arguments and schema stay in the database.
LIST_FIELDS = (
    "id",
    "agent",
    "created_at",
    "title",
    "action",
    "deadline",
    "status",
    "assignee_kind",
    "assignee_name",
    "closed_at",
    "on_expiry",
    # Team features, read from the row itself so the query count stays fixed.
    "approvals_needed",
    "approvals",
    "round",
    "escalated_at",
    "claimed_by",
    "claimed_until",
)


@dataclass(frozen=True)
class Filters:
    tab: str = "waiting"
    agent: str = ""
    mine: bool = False
    sort: str = "deadline"
    page: str = "1"

    @classmethod
    def from_query(cls, query: Any) -> "Filters":
        tab = query.get("tab", "waiting")
        return cls(
            tab=tab if tab in TABS else "waiting",
            # No agent name holds a NUL, and PostgreSQL refuses one in a query: drop them.
            agent=query.get("agent", "").replace("\x00", "")[:255],
            mine=query.get("mine") in ("1", "on", "true"),
            sort=sort if (sort := query.get("sort", "deadline")) in SORTS else "deadline",
            page=query.get("page", "1"),
        )

    @property
    def base_query(self) -> str:
        """The agent, assignee and sort choices as a query string (tabs and pages add theirs)."""
        sort = "" if self.sort == "deadline" else self.sort
        chosen = {"agent": self.agent, "mine": "1" if self.mine else "", "sort": sort}
        return urlencode({k: v for k, v in chosen.items() if v})


@dataclass(frozen=True)
class Tab:
    name: str
    count: int  # exact, or the cap when ``capped``
    capped: bool

    @property
    def label(self) -> str:
        return f"{self.count}+" if self.capped else str(self.count)


@dataclass(frozen=True)
class Page:
    rows: list[Request]
    number: int
    has_next: bool
    pages: int | None  # None when the tab holds more than the count cap: not counted

    def __iter__(self) -> Iterator[Request]:
        return iter(self.rows)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def count_cap() -> int:
    return int(getattr(settings, "INBOX_COUNT_CAP", COUNT_CAP))


def _tab(tab: str) -> RequestQuerySet:
    requests = Request.objects.all()
    if tab == "decided":
        return requests.decided().select_related("decision").order_by("-closed_at")
    if tab == "expired":
        return requests.expired().order_by("-closed_at")
    if tab == "cancelled":
        return requests.stopped().order_by("-closed_at")
    return requests.waiting().order_by(F("deadline").asc(nulls_last=True), "created_at")


def filtered(filters: Filters, user: Any) -> RequestQuerySet:
    requests = _tab(filters.tab)
    if filters.agent:
        requests = requests.filter(agent=filters.agent)
    if filters.mine:
        requests = requests.assigned_to(user)
    order = SORTS[filters.sort]
    return requests.order_by(order, "id") if order else requests


def tabs(filters: Filters, user: Any) -> list[Tab]:
    """The tabs with their counts under the agent/assignee filters, in one query that
    reads at most cap + 1 rows per tab."""
    cap = count_cap()
    parts, params = [], []
    for name in TABS:
        limited = filtered(replace(filters, tab=name), user).order_by().values("pk")[: cap + 1]
        sql, part_params = limited.query.get_compiler(using=limited.db).as_sql()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS {name})")
        params.extend(part_params)
    with connections[Request.objects.db].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        row = cursor.fetchone()
    return [Tab(name, min(count, cap), count > cap) for name, count in zip(TABS, row, strict=True)]


def page(filters: Filters, tab: Tab, user: Any) -> Page:
    """The requested page of ``tab``; a page past the end shows the last one."""
    decided = filters.tab == "decided"
    decision = ("decision__choice", "decision__reviewer_name", "decision__approvers") if decided else ()
    requests = filtered(filters, user).only(*LIST_FIELDS, *decision)
    pages = None if tab.capped else _pages(tab.count)
    number = _number(filters.page, pages)
    rows = _rows(requests, number)
    if not rows and number > 1:
        # Past the end of a tab too long to count (or that shrank since it was counted).
        pages = _pages(requests.count())
        number = pages
        rows = _rows(requests, number)
    return Page(rows[:PAGE_SIZE], number, len(rows) > PAGE_SIZE, pages)


def _pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


def _number(asked: str, pages: int | None) -> int:
    try:
        # Bounded so that the offset stays a 64-bit integer; any such page is past the end.
        number = min(max(1, int(asked)), MAX_PAGE)
    except ValueError:
        return 1
    return number if pages is None else min(number, pages)


def _rows(requests: RequestQuerySet, number: int) -> list[Request]:
    start = (number - 1) * PAGE_SIZE
    return list(requests[start : start + PAGE_SIZE + 1])


def agents() -> list[str]:
    """Every agent that ever asked, sorted: one hop along the agent index per agent, instead of
    a DISTINCT that reads every request ever made (a loose index scan, as a recursive query)."""
    connection = connections[Request.objects.db]
    table = connection.ops.quote_name(Request._meta.db_table)
    column = connection.ops.quote_name(Request._meta.get_field("agent").column)
    sql = (
        f"WITH RECURSIVE agents (name) AS ("
        f" SELECT MIN({column}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > name) FROM agents WHERE name IS NOT NULL"
        f") SELECT name FROM agents WHERE name IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [name for (name,) in cursor.fetchall()]
