"""What the web server checks before it serves: settings that only production gets wrong."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def check_secret_key() -> None:
    """Refuse to start without SECRET_KEY: there is no built-in one outside DEBUG, and sessions,
    CSRF tokens and password resets are signed with it."""
    try:
        settings.SECRET_KEY  # noqa: B018 (Django raises when it is empty)
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set it in the environment to a long random string that "
            "stays the same across restarts, e.g. "
            "export SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\" "
            "(or DEBUG=1 for development, as `make run` does)."
        ) from None
