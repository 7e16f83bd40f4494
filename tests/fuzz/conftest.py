"""The fuzzers' shared pieces: the web tests' signed-in sessions, and an app whose sign-in is
not throttled."""

import pytest

from tests.web.conftest import as_role  # noqa: F401  (the web tests' signed-in sessions)


@pytest.fixture
def fuzz_app(app):
    """Thousands of sign-in tries are the point here; the throttle has its own tests."""
    app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
    return app
