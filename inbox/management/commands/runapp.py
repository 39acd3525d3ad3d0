"""The one-command run: database, demo reviewer, demo agents, web server and worker together."""

import signal
import subprocess
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand

from inbox.agents import start_agents
from inbox.models import Request
from inbox.reviewers import ensure_reviewers_group

DEMO_USER = "reviewer"
DEMO_PASSWORD = "inbox-demo"
# An admin too, so that cancel, resume and fork (which reviewers may not use) can be tried at once.
DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD = "inbox-admin"
DEMO_AGENTS = (("refund", 2), ("deploy", 1), ("email", 1), ("triage", 1))


class Command(BaseCommand):
    help = "Migrate, create the demo reviewer, start demo agents, then run the web server and a worker."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="Where to serve (host:port).")
        parser.add_argument("--no-demo", action="store_true", help="Do not start demo agents.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)
        self._demo_reviewer()
        self._demo_admin()
        if not options["no_demo"] and not Request.objects.waiting().exists():
            for kind, count in DEMO_AGENTS:
                start_agents(kind, count)
            self.stdout.write("Started demo agents: 2 refund, 1 deploy, 1 email, 1 triage.")
        self._print_sign_in(options["addrport"])
        manage = Path(settings.BASE_DIR) / "manage.py"
        worker = subprocess.Popen([sys.executable, str(manage), "durable_worker"], cwd=settings.BASE_DIR)
        # SIGTERM (a supervisor, `kill`) stops both, like Ctrl-C, instead of orphaning the worker.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(worker)

    def _demo_reviewer(self) -> None:
        group = ensure_reviewers_group()
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USER, defaults={"is_staff": True})
        user.set_password(DEMO_PASSWORD)
        user.is_staff = True
        user.save()
        user.groups.add(group)
        # Let the demo reviewer read every run's history (and the audit log) in the admin too.
        views = Permission.objects.filter(
            content_type__app_label__in=["durable", "inbox"], codename__startswith="view_"
        )
        user.user_permissions.add(*views)

    def _demo_admin(self) -> None:
        admin, _ = get_user_model().objects.get_or_create(username=DEMO_ADMIN)
        admin.set_password(DEMO_ADMIN_PASSWORD)
        admin.is_staff = admin.is_superuser = True
        admin.save()

    def _print_sign_in(self, addrport: str) -> None:
        host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nInbox: http://{host}/   sign in as {DEMO_USER} / {DEMO_PASSWORD}\n"
                f"Admin: http://{host}/admin/   sign in as {DEMO_ADMIN} / {DEMO_ADMIN_PASSWORD}\n"
                "A worker runs the agents alongside the web server. Ctrl-C stops both.\n"
            )
        )

    def _stop(self, worker: "subprocess.Popen[bytes]") -> None:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        self.stdout.write("Web server and worker stopped.")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
