"""A run that does every kind of durable operation, for the admin's run-history page."""

import durable

ATTEMPTS: dict[str, int] = {}


@durable.step(retries=2, interval=0.01, backoff=1.0)
def charge_card(amount: float) -> dict[str, object]:
    key = durable.workflow_id()
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 2:
        raise ConnectionError("the payment gateway timed out")
    return {"charged": amount, "currency": "EUR"}


@durable.step()
def lookup_coupon(code: str) -> str:
    raise KeyError(f"no coupon {code}")


@durable.workflow()
def child(n: int) -> int:
    durable.set_event("doubled", n * 2)
    return n * 2


@durable.workflow()
def every_kind(order_id: str, amount: float, tags: tuple[str, ...] = ()) -> dict[str, object]:
    started = durable.now()
    durable.set_event("progress", {"stage": "charging", "since": started})
    receipt = charge_card(amount)
    try:
        lookup_coupon("SPRING")
    except KeyError:
        pass
    handle = durable.start(child, 21)
    doubled = handle.result()
    durable.send(handle.id, "thanks", topic="note")
    decision = durable.recv("decision", timeout=60)
    durable.recv("never", timeout=0.05)  # times out
    durable.sleep(0.2)
    seen = durable.get_event(handle.id, "doubled")
    return {"order": order_id, "receipt": receipt, "doubled": doubled, "decision": decision, "seen": seen}
