"""Start demo agents from the inbox."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..agents import KINDS, start_agents
from .access import reviewer_required

MAX_COUNT = 20


@require_http_methods(["GET", "POST"])
@reviewer_required
def start_agent(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "inbox/start.html", {"kinds": KINDS, "max_count": MAX_COUNT})
    kind = request.POST.get("kind", "")
    try:
        count = int(request.POST.get("count", "1"))
    except ValueError:
        count = 0
    if kind not in KINDS or not 1 <= count <= MAX_COUNT:
        error = f"Choose an agent ({', '.join(KINDS)}) and a count from 1 to {MAX_COUNT}."
        context = {"kinds": KINDS, "max_count": MAX_COUNT, "error": error}
        return render(request, "inbox/start.html", context, status=400)
    handles = start_agents(kind, count)
    messages.success(request, f"Started {len(handles)} {KINDS[kind].label} agent(s); they appear here when they ask.")
    return redirect("inbox:list")
