"""Comments and claims: what reviewers say and who is on it, in the request's history."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Note, NoteKind, Request

MAX_COMMENT = 5000


class ClaimRefused(Exception):
    pass


def comment(request_id: Any, user: Any, text: str) -> Note:
    req = Request.objects.get(id=request_id)
    name = user.get_username()
    return Note.objects.create(request=req, kind=NoteKind.COMMENT, author=user, author_name=name, text=text)


def claim_minutes() -> int:
    return int(getattr(settings, "INBOX_CLAIM_MINUTES", 30))


def claim(request_id: Any, user: Any) -> datetime:
    """Hold the request for ``INBOX_CLAIM_MINUTES`` ("I'm on it"); refused while someone else holds it."""
    name = user.get_username()
    with transaction.atomic():
        req = Request.objects.select_for_update().get(id=request_id)
        if not req.is_open:
            raise ClaimRefused("This request is closed: there is nothing to claim.")
        holder = req.claim_holder
        if holder and holder != name:
            until = timezone.localtime(req.claimed_until).strftime("%H:%M:%S %Z") if req.claimed_until else ""
            raise ClaimRefused(f"{holder} is on it until {until}; you can still decide it.")
        req.claimed_by, req.claimed_until = name, timezone.now() + timedelta(minutes=claim_minutes())
        req.save(update_fields=["claimed_by", "claimed_until"])
        text = f"Claimed until {req.claimed_until.isoformat(timespec='seconds')}."
        Note.objects.create(request=req, kind=NoteKind.CLAIMED, author=user, author_name=name, text=text)
        return req.claimed_until


def release(request_id: Any, user: Any) -> None:
    name = user.get_username()
    with transaction.atomic():
        req = Request.objects.select_for_update().get(id=request_id)
        if req.claim_holder != name:
            raise ClaimRefused("You do not hold this request, so there is nothing to release.")
        req.claimed_by, req.claimed_until = "", None
        req.save(update_fields=["claimed_by", "claimed_until"])
        Note.objects.create(request=req, kind=NoteKind.RELEASED, author=user, author_name=name)
