"""decision_to_agent_ms_p50/_p99: a reviewer's decision POSTed over HTTP to a running server
(gunicorn serving ``inbox.wsgi`` as the README's production serving does, DEBUG off, against the
benchmark database, with a signed-in reviewer's session) until the agent's next step starts (the
step records the wall clock). The client follows the redirect to the inbox, as a browser does."""

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

import durable
from durable.models import Status, WorkflowRun

from . import env
from .harness import Bench
from .inbox_list import _empty_inbox
from .report import Figure
from .wake import percentile
from .workers import ROOT, Workers, wait_for
from .workflows import deciding_agent


def run(bench: Bench) -> list[Figure]:
    samples = bench.size(10, 200)
    env.reset()
    _empty_inbox()
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "inbox.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, **env.PRODUCTION_LIKE, "DATABASE_URL": bench.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(base), timeout=60, what="the web server to answer", pause=0.1)
        cookie = _session()
        with Workers(bench.url) as workers:
            workers.start()
            handles = [durable.start(deciding_agent, i) for i in range(samples)]
            wait_for(lambda: _waiting() >= samples, timeout=300, what=f"{samples} agents to ask", workers=workers)
            latencies = [_decide(base, cookie, handle) for handle in handles]
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    note = "gunicorn (2 sync workers, DEBUG off), one engine worker; HTTP POST of 'approve' to the step's start"
    return [
        Figure("decision_to_agent_ms_p50", statistics.median(latencies), "ms", size=samples, note=note),
        Figure("decision_to_agent_ms_p99", percentile(latencies, 0.99), "ms", size=samples),
    ]


def _decide(base: str, cookie: str, handle: durable.WorkflowHandle) -> float:
    from inbox.models import Request

    req = Request.objects.get(run_id=handle.id)
    token = secrets.token_hex(16)  # 32 characters: the CSRF cookie's secret, repeated in the header
    body = urlencode({"choice": "approve", "shown": req.shown_digest()}).encode()
    post = urllib.request.Request(
        base + reverse("inbox:decide", args=[req.id]),
        data=body,
        headers={
            "Cookie": f"{cookie}; csrftoken={token}",
            "X-CSRFToken": token,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    sent = time.time()
    with urllib.request.urlopen(post, timeout=60) as response:
        response.read()
    return (handle.result(timeout=60) - sent) * 1000


def _session() -> str:
    """A signed-in reviewer's session cookie, stored in the benchmark database."""
    from inbox.reviewers import ensure_reviewers_group

    user, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    user.groups.add(ensure_reviewers_group())
    client = Client()
    client.force_login(user)
    name = "sessionid"
    return f"{name}={client.cookies[name].value}"


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/accounts/login/", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _waiting() -> int:
    return WorkflowRun.objects.filter(status=Status.WAITING, wait_topic="inbox").count()
