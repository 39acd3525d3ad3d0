"""Team views: bulk decisions from the list, comments, and claims ("I'm on it")."""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .. import bulk, discussion
from ..forms import MAX_TEXT
from ..models import Choice, Request
from ..reviewers import may_decide
from .access import reviewer_required


class BulkForm(forms.Form):
    choice = forms.ChoiceField(choices=[(Choice.APPROVE, "Approve"), (Choice.REJECT, "Reject")])
    reason = forms.CharField(required=False, max_length=MAX_TEXT, strip=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("choice") == Choice.REJECT and not data.get("reason"):
            self.add_error("reason", "Say why you reject them: each decision records the reason.")
        return data


@require_POST
@reviewer_required
def bulk_decide(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    picks = bulk.parse_picks(request.POST.getlist("pick"))
    if not picks:
        form.add_error(None, "Select at least one request in the list first.")
    if not form.is_valid():
        return render(request, "inbox/bulk.html", {"form": form, "rows": []}, status=400)
    rows = bulk.decide_many(request.user, picks, form.cleaned_data["choice"], form.cleaned_data["reason"])
    return render(request, "inbox/bulk.html", {"form": form, "rows": rows, "choice": form.cleaned_data["choice"]})


class CommentForm(forms.Form):
    text = forms.CharField(
        max_length=discussion.MAX_COMMENT, strip=True, error_messages={"required": "Write a comment first."}
    )


@require_POST
@reviewer_required
def comment(request: HttpRequest, request_id: Any) -> HttpResponse:
    req = get_object_or_404(Request, id=request_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        discussion.comment(req.id, request.user, form.cleaned_data["text"])
        messages.success(request, "Your comment is in the request's history.")
    else:
        messages.error(request, " ".join(str(e) for e in form.errors["text"]))
    return redirect(reverse("inbox:detail", args=[req.id]) + "#discussion")


@require_POST
@reviewer_required
def claim(request: HttpRequest, request_id: Any) -> HttpResponse:
    req = get_object_or_404(Request, id=request_id)
    if not may_decide(request.user, req):
        raise PermissionDenied(f"This request is assigned to {req.assignee_label}: only they can claim it.")
    try:
        if request.POST.get("action") == "release":
            discussion.release(req.id, request.user)
            messages.success(request, "Released: others see it is free again.")
        else:
            discussion.claim(req.id, request.user)
            minutes = discussion.claim_minutes()
            messages.success(request, f"It is yours for {minutes} minutes; others see you are on it.")
    except discussion.ClaimRefused as exc:
        messages.warning(request, str(exc))
    return redirect("inbox:detail", request_id=req.id)
