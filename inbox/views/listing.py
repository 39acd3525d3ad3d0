"""The inbox list, with its tabs, filters and the partial htmx polls for live updates."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import listing
from .access import HtmxHttpRequest, reviewer_required


@require_GET
@reviewer_required
def inbox_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = listing.Filters.from_query(request.GET)
    tabs = listing.tabs(filters, request.user)
    current = next(tab for tab in tabs if tab.name == filters.tab)
    context = {
        "filters": filters,
        "page": listing.page(filters, current, request.user),
        "tabs": tabs,
        "agents": listing.agents(),
    }
    polling = request.htmx and not request.htmx.boosted
    return render(request, "inbox/list.html#results" if polling else "inbox/list.html", context)
