"""An agent whose every piece of text is a stored-XSS attempt (workers import it by path)."""

import durable
from inbox import ask

# Each payload sets window.__pwned and opens a dialog if it ever runs.
SCRIPT = "<script>window.__pwned='script';alert('script')</script>"
IMG = "<img src=x onerror=\"window.__pwned='img';alert('img')\">"
MD_LINK = "[click me](javascript:window.__pwned='md-link';alert('md-link'))"
RAW_LINK = "<a href=\"javascript:window.__pwned='raw-link';alert('raw-link')\">raw link</a>"
SVG = "<svg onload=\"window.__pwned='svg';alert('svg')\"></svg>"
IFRAME = '"><iframe src="javascript:alert(\'iframe\')"></iframe>'
BREAKOUT = "\" autofocus onfocus=\"window.__pwned='attr';alert('attr')\" x=\""
PAYLOADS = [SCRIPT, IMG, MD_LINK, RAW_LINK, SVG, IFRAME, BREAKOUT]
TITLE = f"Refund? {SCRIPT} {IMG}"
# A workflow name is only a label: it reaches the list's data-agent attribute and the agent column.
AGENT = f"payload agent{BREAKOUT}{IMG}"


@durable.step(name=f"lookup {IMG}")
def lookup() -> str:
    return f"found {SCRIPT} and {RAW_LINK}"


@durable.workflow(name=AGENT)
def payload_agent() -> dict[str, str]:
    durable.set_event("progress", f"reading {SVG} {MD_LINK}")
    lookup()
    decision = ask(
        title=TITLE,
        body_markdown="Some **bold** text.\n\n" + "\n\n".join(PAYLOADS),
        action=f"issue_refund{SCRIPT}",
        arguments={"note": SCRIPT, IMG: MD_LINK, "url": "javascript:alert('argument')"},
    )
    return {"outcome": str(decision.outcome), "reason": decision.reason}
