"""The fuzzers' app, whose sign-in is not throttled (the signed-in sessions, `as_role`, come
from the root conftest)."""

import pytest


@pytest.fixture
def fuzz_app(app):
    """Thousands of sign-in tries are the point here; the throttle has its own tests."""
    app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
    app.config["PASSWORD_RESET_RATE_LIMIT"] = "100000 per hour"
    return app
