"""The one-command run: migrate, demo reviewer, demo agents, web server and worker; Ctrl-C stops both."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import psutil
import pytest
from django.contrib.auth.models import User

from inbox.models import Request
from tests import conftest as root
from tests.inbox.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(url):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def sign_in(base, username, password):
    """Sign in over HTTP as a browser would; return the page it lands on."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base}/accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(f"{base}/accounts/login/", data=data.encode(), headers={"Referer": base})
    return opener.open(request, timeout=30).read().decode()


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_runapp_serves_the_inbox_runs_the_agents_and_stops_cleanly(tmp_path, stop):
    port = free_port()
    log = (tmp_path / "runapp.log").open("w+b")
    env = {**os.environ, "DATABASE_URL": root.test_database_url(), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runapp", f"127.0.0.1:{port}"],
        cwd=root.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: status_of(f"http://127.0.0.1:{port}/accounts/login/") == 200, 60, "the web server")
        assert status_of(f"http://127.0.0.1:{port}/") == 302  # to the sign-in page
        assert "Inbox" in sign_in(f"http://127.0.0.1:{port}", "reviewer", "inbox-demo")
        assert User.objects.get(username="admin").has_perm("durable.change_workflowrun")  # may fork
        # The worker ran the demo agents up to their questions.
        wait_for(lambda: Request.objects.waiting().count() == 5, 60, "five demo agents waiting in the inbox")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("durable_worker" in " ".join(c.cmdline()) for c in children)
    finally:
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        else:
            proc.send_signal(signal.SIGTERM)  # a supervisor stopping the command alone
        proc.wait(timeout=60)
        log.seek(0)
        output = log.read().decode()
        print(output)  # shown by pytest if the test fails
    assert f"Inbox: http://127.0.0.1:{port}/   sign in as reviewer / inbox-demo" in output
    assert f"Admin: http://127.0.0.1:{port}/admin/   sign in as admin / inbox-admin" in output
    assert "Web server and worker stopped." in output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
