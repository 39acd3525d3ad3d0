"""The project's settings for the test suite, with a signing key of its own (DEBUG is off in
tests, as in production, so the project has no built-in key to fall back on)."""

from inbox.settings import *  # noqa: F403

SECRET_KEY = "tests-only-signing-key-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
