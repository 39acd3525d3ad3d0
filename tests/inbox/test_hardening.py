"""Production settings: DEBUG off unless asked for, no built-in secret key, one switch for HTTPS,
a Content-Security-Policy, pages kept out of caches, and sign-in throttling."""

import os
import secrets
import subprocess
import sys

import pytest
from django.urls import reverse

from tests import conftest as root

pytestmark = pytest.mark.django_db


# Set by this test run or its harness (the browser tests allow sync ORM calls under Playwright's
# event loop), never by a deployment.
NOT_INHERITED = ("SECRET_KEY", "DEBUG", "HTTPS", "HSTS_SECONDS", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")


def run(*args, **env):
    """A Python process on the project's own settings, with ``env`` (None removes a variable)."""
    base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    base |= {"DJANGO_SETTINGS_MODULE": "inbox.settings", "PYTHONPATH": str(root.ROOT)}
    full = {k: v for k, v in (base | env).items() if v is not None}
    return subprocess.run([sys.executable, *args], cwd=root.ROOT, env=full, capture_output=True, text=True, timeout=120)


def test_debug_is_off_unless_asked_for():
    show = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    assert run("-c", show).stdout.strip() == "False"
    assert run("-c", show, DEBUG="1").stdout.strip() == "True"


def test_the_web_server_refuses_to_start_without_a_secret_key():
    for module in ("inbox.wsgi", "inbox.asgi"):
        refused = run("-c", f"import {module}")
        assert refused.returncode != 0
        assert "SECRET_KEY is not set and DEBUG is off" in refused.stderr and "token_urlsafe" in refused.stderr
        assert run("-c", f"import {module}", SECRET_KEY=secrets.token_urlsafe(50)).returncode == 0
        assert run("-c", f"import {module}", DEBUG="1").returncode == 0  # development has its own key


def test_check_deploy_is_clean_with_the_https_switch_on():
    production = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "inbox.example.com"}
    check = ("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    on = run(*check, HTTPS="1", **production)
    assert on.returncode == 0 and "no issues" in on.stdout, on.stdout + on.stderr
    off = run(*check, **production)  # the switch is what makes it clean
    assert off.returncode != 0 and "security.W008" in off.stderr and "security.W012" in off.stderr


def test_https_settings_redirect_and_mark_cookies_secure():
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    shown = run("-c", show, HTTPS="1", SECRET_KEY="x" * 50).stdout.split(maxsplit=4)
    assert shown == ["True", "True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO', 'https')\n"]


def test_inbox_pages_carry_the_policy_and_are_not_stored(reviewer_client, make_request):
    req = make_request()
    pages = [
        reverse("inbox:list"),
        reverse("inbox:detail", args=[req.id]),
        reverse("inbox:status", args=[req.id]),
        reverse("inbox:start"),
    ]
    for url in pages:
        response = reviewer_client.get(url)
        assert response.status_code == 200, url
        assert {"private", "no-store"} <= set(response["Cache-Control"].split(", ")), url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy and "frame-ancestors 'none'" in policy, url


def test_static_files_keep_their_cache(client, settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve from the apps' static folders, as DEBUG does
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/static/inbox/inbox.js")
    assert response.status_code == 200 and "no-store" not in response["Cache-Control"]


def sign_in(client, username, password, address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_repeated_wrong_passwords_lock_that_username_from_that_address(client, make_user):
    make_user("alice")
    make_user("bob")
    for _ in range(4):
        assert sign_in(client, "alice", "guess").status_code == 200  # the form again, with its error
    locked = sign_in(client, "alice", "guess")  # the fifth
    assert locked.status_code == 429 and "sign-in is locked for 15 minutes" in locked.content.decode()
    assert "axes_reset_username" in locked.content.decode()
    assert sign_in(client, "alice", "pw-alice").status_code == 429, "even the right password waits"
    # Only that pair is locked: alice elsewhere and bob here still sign in.
    assert sign_in(client, "alice", "pw-alice", address="10.0.0.2").status_code == 302
    client.logout()
    assert sign_in(client, "bob", "pw-bob").status_code == 302


def test_a_successful_sign_in_clears_the_count(client, make_user):
    make_user("alice")
    for _ in range(3):
        for _ in range(4):
            sign_in(client, "alice", "typo")
        assert sign_in(client, "alice", "pw-alice").status_code == 302, "12 typos, but never 5 in a row"
        client.logout()
