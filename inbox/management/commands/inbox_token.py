"""Create an API token for a reviewer: ``manage.py inbox_token alice --name "chat bot"``."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox import tokens


class Command(BaseCommand):
    help = "Create an inbox API token for a user and print it (it is stored hashed: copy it now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="API token", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}: create it first (manage.py createsuperuser).")
        self.stdout.write(tokens.create(user, options["name"]))
