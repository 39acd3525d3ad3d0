"""Agent text is untrusted: stored-XSS payloads render inert; reviewer JSON never becomes an object."""

import json
from html.parser import HTMLParser

import pytest
from django.urls import reverse

import durable
from durable.models import Message
from inbox.models import DecisionRecord
from inbox.rendering import markdown
from tests.inbox import workflows as w
from tests.inbox.conftest import start_and_wait

PAYLOADS = [
    "<script>alert('xss')</script>",
    '<img src=x onerror="alert(1)">',
    "[click me](javascript:alert(1))",
    '<a href="javascript:alert(2)">raw link</a>',
    "<svg onload=alert(3)>",
    "![x](javascript:alert(4))",
    '"><iframe src="javascript:alert(5)"></iframe>',
]


class Inspector(HTMLParser):
    """Collects everything in a page that could run script."""

    def __init__(self):
        super().__init__()
        self.dangers = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        if tag in ("iframe", "svg", "object", "embed"):
            self.dangers.append(f"<{tag}>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith("/static/"):
                self.dangers.append(f"inline <script> {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.dangers.append(f"{tag} {name}={value}")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.dangers.append(f"{tag} {name}={value}")


def dangers(html):
    inspector = Inspector()
    inspector.feed(html)
    return inspector.dangers


@pytest.mark.django_db
def test_payloads_in_every_agent_field_render_inert(reviewer_client, make_request):
    text = "\n\n".join(PAYLOADS)
    req = make_request(
        title=" ".join(PAYLOADS),
        body_markdown=text,
        action="<script>alert('action')</script>",
        arguments={"<img src=x onerror=alert(6)>": text, "note": PAYLOADS[0]},
        agent="<script>alert('agent')</script>",
    )
    pages = [
        reviewer_client.get(reverse("inbox:list")).content.decode(),
        reviewer_client.get(reverse("inbox:detail", args=[req.id])).content.decode(),
        reviewer_client.get(reverse("inbox:detail", args=[req.id]) + "?tab=history").content.decode(),
    ]
    for html in pages:
        assert dangers(html) == []
        assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in html  # shown, as text
    detail = pages[1]
    assert "click me" in detail  # the link text survives, without its javascript: target


@pytest.mark.django_db
def test_payloads_in_progress_events_and_step_outputs_render_inert(reviewer_client, make_request):
    from durable.models import Checkpoint, Event

    req = make_request()
    value = json.dumps(PAYLOADS)
    Event.objects.create(run_id=req.run_id, key="<script>alert(7)</script>", value=value, seq=0)
    Checkpoint.objects.create(run_id=req.run_id, seq=0, kind="step", name=PAYLOADS[1], output=value)
    html = reviewer_client.get(reverse("inbox:detail", args=[req.id]) + "?tab=activity").content.decode()
    assert dangers(html) == []
    assert "&lt;svg onload=alert(3)&gt;" in html


def test_markdown_keeps_formatting_and_drops_script():
    html = str(markdown("**bold** [ok](https://example.com) " + " ".join(PAYLOADS)))
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html
    assert dangers(html) == []
    assert "<script" not in html


PY_OBJECT = {
    "py/reduce": [{"py/function": "tests.workflows.ledger"}, {"py/tuple": ["PWNED"]}],
    "nested": {"py/object": "tests.inbox.test_security.Canary", "armed": True},
}


class Canary:
    def __setstate__(self, state):
        from tests.workflows import ledger

        ledger("CANARY")


@pytest.mark.django_db(transaction=True)
def test_a_py_object_payload_in_edited_arguments_stays_data(worker, reviewer_client, ledger):
    handle, req = start_and_wait(w.asker)
    text = json.dumps(PY_OBJECT)
    preview = reviewer_client.post(reverse("inbox:edit", args=[req.id]), {"mode": "json", "arguments_json": text})
    assert preview.status_code == 200
    assert "py/reduce" in preview.content.decode()
    response = reviewer_client.post(
        reverse("inbox:decide", args=[req.id]), {"choice": "edit", "shown": req.shown_digest(), "arguments_json": text}
    )
    assert response.status_code == 302
    # Stored as JSON data in the audit record...
    assert DecisionRecord.objects.get().arguments_after == PY_OBJECT
    # ...sent to the agent as a JSON string inside a message of plain strings...
    message = Message.objects.get(destination_id=req.run_id)
    assert isinstance(message.value["arguments_json"], str)
    # ...and the agent gets a plain dict back, with nothing instantiated or called anywhere.
    result = handle.result(timeout=15)
    assert json.loads(result["arguments_json"]) == PY_OBJECT
    history = reviewer_client.get(reverse("inbox:detail", args=[req.id]) + "?tab=history").content.decode()
    assert "&quot;py/reduce&quot;" in history and "tests.workflows.ledger" in history
    assert "PWNED" not in ledger.read_text() and "CANARY" not in ledger.read_text()
    assert durable.retrieve(handle.id).status() == "SUCCESS"
