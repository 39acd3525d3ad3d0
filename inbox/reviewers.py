"""Who may review: the "Reviewers" group holds the decide permission; assignees narrow it."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType

from .models import Request

GROUP = "Reviewers"
PERMISSION = "inbox.decide_request"


def ensure_reviewers_group() -> Group:
    """Create the Reviewers group with the decide permission (idempotent)."""
    content_type = ContentType.objects.get_for_model(Request)
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="decide_request",
        defaults={"name": "Can review and decide agent requests"},
    )
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(permission)
    return group


def is_reviewer(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm(PERMISSION))


def may_decide(user: Any, request: Request) -> bool:
    """A reviewer may decide an unassigned request; an assigned one only its assignee (or a superuser);
    never the request's requester."""
    if isinstance(user, AnonymousUser) or not is_reviewer(user):
        return False
    if request.requester and user.get_username() == request.requester:
        return False  # four eyes: whoever asked for it does not decide it
    if user.is_superuser or not request.assignee_kind:
        return True
    if request.assignee_kind == Request.USER:
        return bool(user.get_username() == request.assignee_name)
    return bool(user.groups.filter(name=request.assignee_name).exists())
