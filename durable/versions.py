"""Application versions. A worker serves one: ``DURABLE_APP_VERSION`` (the setting, else the
environment variable), else a hash of the workflow modules it imports at start. A run takes the
version of the worker that first claims it, and only workers of that version resume it, so a
deploy never replays a run on code it did not start on. A worker that sees a newer version (a
later first sighting in ``AppVersion``) drains: it finishes its version's runs, then exits."""

import functools
import hashlib
import importlib
import os
from datetime import datetime
from pathlib import Path
from types import ModuleType

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import module_has_submodule

from .conf import get_settings
from .models import UNFINISHED, AppVersion, WorkflowRun


def workflow_modules() -> list[str]:
    """The modules a worker imports at start: each app's ``workflows``, then ``DURABLE_IMPORTS``."""
    names = [f"{c.name}.workflows" for c in apps.get_app_configs() if module_has_submodule(c.module, "workflows")]
    return names + [m for m in get_settings().IMPORTS if m not in names]


def import_workflows() -> list[ModuleType]:
    return [importlib.import_module(name) for name in workflow_modules()]


def current() -> str:
    """This process's application version."""
    version = get_settings().APP_VERSION or os.environ.get("DURABLE_APP_VERSION", "") or code_hash()
    if len(version) > 64:
        raise ImproperlyConfigured(
            f"DURABLE_APP_VERSION is {len(version)} characters long; runs store at most 64. Use a release "
            "tag or a commit hash."
        )
    return version


@functools.cache
def code_hash() -> str:
    """The first 12 hex digits of a SHA-256 over the name and source file of each module in
    ``workflow_modules()``, in name order. Modules they import in turn are not part of it: list
    those in DURABLE_IMPORTS, or set DURABLE_APP_VERSION (a release tag, a commit) yourself."""
    digest = hashlib.sha256()
    for module in sorted(import_workflows(), key=lambda m: m.__name__):
        digest.update(module.__name__.encode() + b"\0")
        if module.__file__:
            digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def _db() -> str:
    return get_settings().DATABASE


def register(version: str) -> datetime:
    """Record that a worker of ``version`` runs; when the version was first seen."""
    row, _ = AppVersion.objects.using(_db()).get_or_create(name=version, defaults={"first_seen_at": timezone.now()})
    return row.first_seen_at


def newer_than(version: str, first_seen: datetime) -> str | None:
    """A version first seen after ``version``, if any (the newest)."""
    newer = AppVersion.objects.using(_db()).filter(first_seen_at__gt=first_seen).exclude(name=version)
    return newer.order_by("-first_seen_at").values_list("name", flat=True).first()


def has_unfinished(version: str) -> bool:
    """Whether a run that started under ``version`` is still unfinished (parked ones included)."""
    return WorkflowRun.objects.using(_db()).filter(app_version=version, status__in=UNFINISHED).exists()
