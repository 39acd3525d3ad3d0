"""The inbox list, with its tabs, filters and the partial htmx polls for live updates."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import listing
from ..agents import KINDS
from .access import HtmxHttpRequest, reviewer_required


@require_GET
@reviewer_required
def inbox_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = listing.Filters.from_query(request.GET)
    context = {
        "filters": filters,
        "page": listing.page(filters, request.user),
        "counts": listing.counts(filters, request.user),
        "agents": listing.agents(),
        "kinds": KINDS,
        "tabs": listing.TABS,
    }
    polling = request.htmx and not request.htmx.boosted
    return render(request, "inbox/list.html#results" if polling else "inbox/list.html", context)
