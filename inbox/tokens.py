"""Per-user API tokens: shown once, stored as SHA-256 digests, sent as ``Authorization: Bearer``.

A token is 256 random bits, so a fast hash is enough (nothing to brute-force, unlike a
password) and lets the lookup be one indexed equality. Django REST framework's TokenAuthentication
stores tokens in clear text, which is why this is not it.
"""

import hashlib
import secrets
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from .models import ApiToken

PREFIX = "inbox_"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(user: Any, name: str) -> str:
    """Make a token for ``user`` and return it: the only time it is seen."""
    raw = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name[:100], digest=digest(raw), prefix=raw[len(PREFIX) :][:8])
    return raw


def user_for(request: HttpRequest) -> Any:
    """The active user whose token the request carries, or None (no token, unknown, or revoked)."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip().startswith(PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(raw.strip())).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
