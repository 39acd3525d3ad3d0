"""Deciding: approve, reject, respond, or edit (preview the diff, then confirm)."""

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from .. import deciding, rendering
from ..argument_form import SchemaArgumentsForm
from ..forms import DecisionForm, JsonArgumentsForm
from ..models import Choice, Request
from ..reviewers import may_decide
from .access import HtmxHttpRequest, reviewer_required
from .detail import detail_context


def _decidable(request: HtmxHttpRequest, request_id: Any) -> Request:
    req = get_object_or_404(Request, id=request_id)
    if not may_decide(request.user, req):
        raise PermissionDenied(f"This request is assigned to {req.assignee_label}: only they can decide it.")
    return req


@require_POST
@reviewer_required
def decide(request: HtmxHttpRequest, request_id: Any) -> HttpResponse:
    req = _decidable(request, request_id)
    if not req.is_open:
        return _closed(request, req)
    form = DecisionForm(req, request.POST)
    if not form.is_valid():
        return _panel(request, req, 400, decision_form=form, act=request.POST.get("choice", ""))
    choice = form.cleaned_data["choice"]
    try:
        record = deciding.decide(
            req.id,
            request.user,
            choice,
            **form.details(),
        )
    except deciding.AlreadyClosed:
        return _closed(request, req)
    except deciding.NotCounted as exc:
        return _closed(request, req, str(exc))
    messages.success(request, deciding.done_message(record, req.title))
    if request.htmx:
        return HttpResponseClientRedirect(reverse("inbox:list"))
    return redirect("inbox:list")


@require_POST
@reviewer_required
def edit_preview(request: HtmxHttpRequest, request_id: Any) -> HttpResponse:
    """Check the edited arguments and show the diff; the reviewer then confirms (or goes back)."""
    req = _decidable(request, request_id)
    if not req.is_open:
        return _closed(request, req)
    if not req.allows(Choice.EDIT):
        return _panel(request, req, 400, edit_error="This agent does not accept edits.")
    json_mode = request.POST.get("mode") == "json"
    form: JsonArgumentsForm | SchemaArgumentsForm
    form = JsonArgumentsForm(req, request.POST) if json_mode else SchemaArgumentsForm(req, request.POST)
    if not form.is_valid():
        bound = {"json_form": form, "json_open": True} if json_mode else {"field_form": form}
        return _panel(request, req, 400, act="edit", **bound)
    changes = rendering.diff(req.arguments, form.arguments)
    if not changes:
        return _panel(
            request, req, 400, act="edit", edit_error="Nothing changed: approve it instead, or change a value."
        )
    preview = {"changes": changes, "arguments_json": json.dumps(form.arguments, indent=2, ensure_ascii=False)}
    return _panel(request, req, 200, preview=preview, act="edit")


def _panel(request: HtmxHttpRequest, req: Request, status: int, **extra: Any) -> HttpResponse:
    """The decide panel alone for htmx, else the whole page around it."""
    context = detail_context(request, req, **extra)
    template = "inbox/detail.html#decide-panel" if request.htmx else "inbox/detail.html"
    return render(request, template, context, status=status)


def _closed(request: HtmxHttpRequest, req: Request, notice: str = "") -> HttpResponse:
    """Tell the second decider who decided first and when: 409 for htmx, a message otherwise."""
    notice = notice or deciding.closed_message(req)
    if request.htmx:
        req = Request.objects.get(id=req.id)  # as it is now, with the decision that closed it
        return _panel(request, req, 409, closed_notice=notice, oob=True)
    messages.warning(request, notice)
    return redirect("inbox:detail", request_id=req.id)
