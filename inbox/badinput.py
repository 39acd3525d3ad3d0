"""Input that no database can store or answer becomes a 400 naming the cause, never a server error.

Two kinds reach Django's own views, where a form cannot catch them:

- text with a lone surrogate (half of a UTF-16 pair). A browser never sends one, but a request that
  declares a charset such as UTF-7 decodes into one, and then the database write, the query and
  even the encoding of the error page fail;
- admin list filters that the database refuses: a NUL character (PostgreSQL's text cannot hold it)
  or a date or number out of range (``?created_at__year=99999999999999999999`` overflows while the
  admin builds its query). The admin checks a filter's name but not every value, for its own
  lists and for ``django.contrib.auth``'s alike, so the check is here, once, for every list.
"""

import re
from collections.abc import Callable
from typing import Any

from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.utils.html import format_html

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        for data in (request.GET, request.POST):
            if _holds(data, _SURROGATE.search):
                return _bad(
                    "The request holds half of a UTF-16 surrogate pair, text that cannot be stored: it was "
                    f"sent in a character set ({request.encoding or 'unknown'}) that produced it. Send it as UTF-8."
                )
        if _in_admin(request) and _holds(request.GET, lambda text: "\x00" in text):
            return _bad(
                "The address holds a NUL character (%00), which no filter can match and PostgreSQL refuses. "
                "Remove it from the address.",
                request.path,
            )
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A filter value out of range surfaces while the admin list runs its query."""
        if not (_admin_list(request) and request.GET and isinstance(exception, (OverflowError, ValueError, DataError))):
            return None
        return _bad(
            f"This list cannot be filtered by “{request.GET.urlencode()}”: {exception}. "
            "Correct the value or remove the filter.",
            request.path,
        )


def _holds(data: QueryDict, found: Callable[[str], Any]) -> bool:
    return any(found(key) or any(found(value) for value in values) for key, values in data.lists())


def _in_admin(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.app_name == "admin"


def _admin_list(request: HttpRequest) -> bool:
    match = request.resolver_match
    return _in_admin(request) and match is not None and (match.url_name or "").endswith("_changelist")


def _bad(message: str, start_over: str | None = None) -> HttpResponse:
    body = format_html("<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{}</p>", message)
    if start_over:
        body += format_html('<p><a href="{}">Show the list without filters</a></p>', start_over)
    return HttpResponseBadRequest(body)
