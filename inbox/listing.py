"""The inbox list: a fixed number of queries however many agents wait."""

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q
from django.utils.http import urlencode

from .models import Request, RequestQuerySet, RequestStatus

TABS = ("waiting", "decided", "expired")
PAGE_SIZE = 25


@dataclass(frozen=True)
class Filters:
    tab: str = "waiting"
    agent: str = ""
    mine: bool = False
    page: str = "1"

    @classmethod
    def from_query(cls, query: Any) -> "Filters":
        tab = query.get("tab", "waiting")
        return cls(
            tab=tab if tab in TABS else "waiting",
            # No agent name holds a NUL, and PostgreSQL refuses one in a query: drop them.
            agent=query.get("agent", "").replace("\x00", "")[:255],
            mine=query.get("mine") in ("1", "on", "true"),
            page=query.get("page", "1"),
        )

    @property
    def base_query(self) -> str:
        """The agent and assignee filters as a query string (tabs and pages add theirs)."""
        return urlencode({k: v for k, v in {"agent": self.agent, "mine": "1" if self.mine else ""}.items() if v})


def _tab(tab: str) -> RequestQuerySet:
    requests = Request.objects.all()
    if tab == "decided":
        return requests.decided().select_related("decision").order_by("-closed_at")
    if tab == "expired":
        return requests.expired().order_by("-closed_at")
    return requests.waiting().order_by(F("deadline").asc(nulls_last=True), "created_at")


def filtered(filters: Filters, user: Any) -> RequestQuerySet:
    requests = _tab(filters.tab)
    if filters.agent:
        requests = requests.filter(agent=filters.agent)
    if filters.mine:
        requests = requests.assigned_to(user)
    return requests


def counts(filters: Filters, user: Any) -> dict[str, int]:
    """The three tab counts (under the agent/assignee filters) in one query."""
    requests = Request.objects.all()
    if filters.agent:
        requests = requests.filter(agent=filters.agent)
    if filters.mine:
        requests = requests.assigned_to(user)
    waiting_ids = Request.objects.waiting().values("id")
    return requests.aggregate(
        waiting=Count("id", filter=Q(id__in=waiting_ids)),
        decided=Count("id", filter=Q(status=RequestStatus.DECIDED)),
        expired=Count("id", filter=Q(status=RequestStatus.EXPIRED)),
    )


def page(filters: Filters, user: Any) -> Page[Request]:
    return Paginator(filtered(filters, user), PAGE_SIZE).get_page(filters.page)


def agents() -> list[str]:
    return list(Request.objects.order_by("agent").values_list("agent", flat=True).distinct())
