"""The JSON API: list waiting requests, read one, decide; authenticated by per-user API tokens.

The same rules as the browser: the reviewer permission, the assignee, the form's validation
(including the digest of what the client was shown), the audit record and 409 when someone
else decided first. Token requests are exempt from CSRF (no cookie is consulted: a session alone
never authenticates here), and everything is read with plain ``json``.
"""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import deciding, listing, tokens
from ..forms import DecisionForm
from ..models import DecisionRecord, Request
from ..reviewers import is_reviewer, may_decide

API_LIMIT = 100
MAX_BODY = 200_000


def api(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def check(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return _error(405, f"Use {' or '.join(methods)} here.", Allow=", ".join(methods))
            user = tokens.user_for(request)
            if user is None:
                message = "Send a valid API token: Authorization: Bearer inbox_… (manage.py inbox_token <user>)."
                return _error(401, message, **{"WWW-Authenticate": 'Bearer realm="inbox"'})
            if not is_reviewer(user):
                return _error(403, "This token's user is not a reviewer: add them to the Reviewers group.")
            request.user = user
            return view(request, *args, **kwargs)

        return check

    return wrap


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@api("GET")
def waiting(request: HttpRequest) -> HttpResponse:
    rows = listing.filtered(listing.Filters(mine=request.GET.get("mine") == "1"), request.user)[:API_LIMIT]
    return JsonResponse({"requests": [summary(r) for r in rows]})


NOT_FOUND = "No request has this id: list the waiting ones at /api/v1/requests/."


@api("GET")
def one(request: HttpRequest, request_id: Any) -> HttpResponse:
    req = Request.objects.filter(id=request_id).first()
    if req is None:
        return _error(404, NOT_FOUND)
    return JsonResponse(full(req, request.user))


@api("POST")
def decide(request: HttpRequest, request_id: Any) -> HttpResponse:
    req = Request.objects.filter(id=request_id).first()
    if req is None:
        return _error(404, NOT_FOUND)
    if not may_decide(request.user, req):
        return _error(403, f"This request is assigned to {req.assignee_label}: only they can decide it.")
    if not req.is_open:
        return _error(409, deciding.closed_message(req))
    body = _body(request)
    if body is None:
        return _error(400, 'Send a JSON object: {"choice": "approve", "shown": "<digest from GET>"}.')
    form = DecisionForm(req, _form_data(body))
    if not form.is_valid():
        return JsonResponse({"error": "The decision is not valid.", "errors": form.errors}, status=400)
    choice = form.cleaned_data["choice"]
    try:
        done = deciding.decide(
            req.id,
            request.user,
            choice,
            **form.details(),
        )
    except deciding.AlreadyClosed:
        return _error(409, deciding.closed_message(req))
    except deciding.NotCounted as exc:
        return _error(409, str(exc))
    req.refresh_from_db()
    return JsonResponse({"message": deciding.done_message(done, req.title), **full(req, request.user)})


def _body(request: HttpRequest) -> dict[str, Any] | None:
    if len(request.body) > MAX_BODY:
        return None
    try:
        value = json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _form_data(body: dict[str, Any]) -> dict[str, str]:
    """The JSON body as the browser's form fields, so the same form validates both."""
    data = {name: body[name] for name in ("choice", "reason", "response", "shown") if isinstance(body.get(name), str)}
    if "arguments" in body:
        data["arguments_json"] = json.dumps(body["arguments"])
    return data


def summary(req: Request) -> dict[str, Any]:
    return {
        "id": str(req.id),
        "title": req.title,
        "agent": req.agent,
        "action": req.action,
        "status": req.status,
        "created_at": req.created_at.isoformat(),
        "deadline": req.deadline.isoformat() if req.deadline else None,
        "assignee": req.assignee_label,
        "approvals_needed": req.approvals_needed,
        "approvals": list(req.approvals),
        "claimed_by": req.claim_holder,
        "escalated": req.escalated_at is not None,
    }


def full(req: Request, user: Any) -> dict[str, Any]:
    decision: DecisionRecord | None = getattr(req, "decision", None) if not req.is_open else None
    return summary(req) | {
        "body_markdown": req.body_markdown,
        "arguments": req.arguments,
        "schema": req.schema,
        "choices": req.choices,
        "shown": req.shown_digest(),
        "may_decide": may_decide(user, req),
        "decision": None
        if decision is None
        else {
            "choice": decision.choice,
            "reviewer": decision.reviewer_name,
            "approvers": decision.approvers,
            "reason": decision.reason,
            "response": decision.response,
            "decided_at": decision.decided_at.isoformat(),
        },
        "history": [
            {"kind": n.kind, "by": n.author_name, "text": n.text, "at": n.created_at.isoformat()}
            for n in req.notes.all()
        ],
    }
