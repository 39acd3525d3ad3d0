"""The inbox's reviewer fixtures, for the agents whose requests a reviewer decides here."""

from tests.inbox.conftest import make_user, reviewer, reviewer_client, reviewers_group  # noqa: F401
