"""One request: what the agent asks, what it did so far, its history, and the decision forms."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRefresh

from .. import activity, arguments, discussion, rendering
from ..argument_form import SchemaArgumentsForm
from ..forms import JsonArgumentsForm
from ..models import Request
from ..reviewers import may_decide
from .access import HtmxHttpRequest, reviewer_required

DETAIL_TABS = ("request", "activity", "history")
ACTIONS = ("approve", "reject", "edit", "respond")


@require_GET
@reviewer_required
def request_detail(request: HttpRequest, request_id: Any) -> HttpResponse:
    req = get_object_or_404(Request, id=request_id)
    if request.GET.get("part") == "after" and not req.is_open:  # polled until the run ends
        return render(request, "inbox/_after.html", {"req": req, "after": activity.after_decision(req)})
    tab = request.GET.get("tab", "request")
    context = detail_context(request, req, tab=tab if tab in DETAIL_TABS else "request")
    return render(request, "inbox/detail.html", context)


@require_GET
@reviewer_required
def request_status(request: HtmxHttpRequest, request_id: Any) -> HttpResponse:
    """Polled by the detail page: reload it once the request was decided or expired elsewhere."""
    req = get_object_or_404(Request, id=request_id)
    if request.htmx and request.GET.get("shown") != req.status:
        return HttpResponseClientRefresh()
    return render(request, "inbox/detail.html#status", {"req": req})


def detail_context(request: HttpRequest, req: Request, **extra: Any) -> dict[str, Any]:
    """Everything the detail page shows; ``extra`` carries bound forms and previews on errors."""
    act = request.GET.get("act", "")
    context = {
        "req": req,
        "tab": "request",
        "act": act if act in ACTIONS else "",
        "body_html": rendering.markdown(req.body_markdown),
        "arguments": arguments.labelled(req.arguments, req.schema),
        "arguments_pretty": rendering.pretty_json(req.arguments),
        "schema_pretty": rendering.pretty_json(req.schema) if req.schema else "",
        "digest": req.shown_digest(),
        "may_decide": may_decide(request.user, req),
        "field_form": SchemaArgumentsForm(req),
        "json_form": JsonArgumentsForm(req),
        "decision": getattr(req, "decision", None) if not req.is_open else None,
        "notes": list(req.notes.all()),
        "claim_minutes": discussion.claim_minutes(),
    }
    context.update(extra)
    if context["decision"] is not None and context["tab"] == "request":
        context["after"] = activity.after_decision(req)
    if context["tab"] == "activity":
        context.update(activity.activity(req))
    if context["tab"] == "history":
        requests = Request.objects.filter(run_id=req.run_id).select_related("decision").prefetch_related("notes")
        context["history"] = requests.order_by("created_at")
    return context
