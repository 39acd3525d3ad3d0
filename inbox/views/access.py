"""Who may see the inbox: signed-in users holding the decide permission (the Reviewers group)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from ..reviewers import is_reviewer

View = Callable[..., HttpResponse]


def reviewer_required(view: View) -> View:
    """Anonymous users go to the sign-in page; signed-in users without the permission get 403."""

    @wraps(view)
    def check(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_reviewer(request.user):
            raise PermissionDenied("You need to be in the Reviewers group to use the inbox.")
        return view(request, *args, **kwargs)

    return login_required(check)


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (for type checking)."""

    htmx: HtmxDetails
