"""The import tests' world: a fixed "today", and a client to import services and contacts for."""

import datetime as dt

import pytest
import time_machine

from tests.support.factories import make_client
from webapp.clients.models import Client
from webapp.extensions import db

TODAY = dt.date(2027, 3, 10)


@pytest.fixture
def clock(app):
    with time_machine.travel(
        dt.datetime.combine(TODAY, dt.time(9), dt.UTC), tick=False
    ) as traveller:
        yield traveller


@pytest.fixture
def acme(company, clock) -> int:
    """Acme Dental (external id ACME-001), with one contact holding every role."""
    client_id = make_client(company, "Acme Dental")
    db.session.get(Client, client_id).external_id = "ACME-001"
    db.session.commit()
    return client_id
