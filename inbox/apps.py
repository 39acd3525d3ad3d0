from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Agent inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The data migration creates the group; this puts it back after a flush (tests do that).
        post_migrate.connect(_ensure_group, sender=self)
        from durable import run_cancelled, run_finished, run_forked, run_resumed

        from . import forks, stopped

        run_cancelled.connect(stopped.close_requests_of_cancelled_run, dispatch_uid="inbox.close_cancelled")
        run_finished.connect(stopped.close_requests_of_ended_run, dispatch_uid="inbox.close_ended")
        run_resumed.connect(stopped.reopen_requests_of_resumed_run, dispatch_uid="inbox.reopen_resumed")
        run_forked.connect(forks.copy_requests_for_fork, dispatch_uid="inbox.copy_for_fork")


def _ensure_group(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from .reviewers import ensure_reviewers_group

    if using == "default":
        ensure_reviewers_group()
