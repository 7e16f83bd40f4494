"""The API tests' client (which sees what each request wrote), a token and an active service."""

import pytest

from tests.support.app import FreshContextClient
from tests.support.factories import active_service
from webapp.accounts import api_tokens
from webapp.extensions import db


class SnapshotFreeClient(FreshContextClient):
    """After each request the test's own session starts afresh, so it sees what was written."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


@pytest.fixture
def client(app):
    app.test_client_class = SnapshotFreeClient
    return app.test_client()


@pytest.fixture
def token(company):
    return api_tokens.create(company, "prometheus", "test")[1]


@pytest.fixture
def service(company):
    return active_service(company)
