"""What ``inbox.ask`` returns to the agent: the reviewer's decision, or the expiry."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"
    RESPONDED = "responded"
    # The deadline passed with no decision: its own outcome, never a reviewer's "no".
    EXPIRED = "expired"


@dataclass(frozen=True)
class Decision:
    """A reviewer's answer to one request (or its expiry).

    ``arguments`` are the ones to act with: the reviewer's edit if they edited, else the
    agent's proposal. ``reason`` comes with a rejection, ``text`` with a response.
    """

    outcome: Outcome
    request_id: str
    arguments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    text: str = ""
    reviewer: str = ""
    decided_at: datetime | None = None
    on_expiry: str = ""
    # Every reviewer whose approval counted (one for a single approval, N for a quorum).
    approvers: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        """Approved as proposed by a reviewer, or expired with ``on_expiry="approve"``."""
        return self.outcome == Outcome.APPROVED or (self.expired and self.on_expiry == "approve")

    @property
    def rejected(self) -> bool:
        """Rejected by a reviewer, or expired with ``on_expiry="reject"``."""
        return self.outcome == Outcome.REJECTED or (self.expired and self.on_expiry == "reject")

    @property
    def edited(self) -> bool:
        return self.outcome == Outcome.EDITED

    @property
    def responded(self) -> bool:
        return self.outcome == Outcome.RESPONDED

    @property
    def expired(self) -> bool:
        return self.outcome == Outcome.EXPIRED

    @property
    def go_ahead(self) -> bool:
        """The action may run: approved (or approved on expiry) or edited."""
        return self.approved or self.edited


class RequestExpired(Exception):
    """Raised by ``inbox.ask(..., on_expiry="raise")`` when the deadline passes undecided."""

    def __init__(self, request_id: str, title: str) -> None:
        super().__init__(f"Nobody decided inbox request {request_id} ({title!r}) before its deadline.")
        self.request_id = request_id
        self.title = title

    def __reduce__(self) -> tuple[Any, ...]:
        return (RequestExpired, (self.request_id, self.title))
