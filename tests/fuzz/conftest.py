"""The fuzzers' app, whose sign-in is not throttled (the signed-in sessions, `as_role`, come
from the root conftest)."""

import pytest


@pytest.fixture
def fuzz_app(app):
    """Thousands of sign-in tries are the point here; the throttle has its own tests."""
    app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
    app.config["PASSWORD_RESET_RATE_LIMIT"] = "100000 per hour"
    app.config["LOGIN_ACCOUNT_FREE_FAILURES"] = 100000
    # The fuzz's world has two companies: its admin opens the queues as a listed operator.
    app.config["QUEUE_DASHBOARD_OPERATORS"] = frozenset({"admin@msp.example"})
    return app
