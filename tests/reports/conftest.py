"""The reports' fixture MSP: six services in EUR and USD over five cycles, London time, moved
through the real lifecycle day by day (design §9); tests/reports/test_revenue_reports.py pins
its hand-computed figures."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from tests.support.factories import make_client, make_service
from webapp.company.models import Company
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle as C
from webapp.services import actions as lc
from webapp.services import expiry as periodic

D = dt.date


def at(day: dt.date, hour=9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


@pytest.fixture
def msp(app, work):
    """Fixture MSP on 2027-04-02 10:00 UTC, after its two months of history."""
    company = Company(name="Fixture MSP", timezone="Europe/London")
    db.session.add(company)
    db.session.commit()
    cid = company.id
    acme, bluebird = make_client(cid, "Acme"), make_client(cid, "Bluebird")
    with time_machine.travel(at(D(2027, 1, 2)), tick=False) as clock:

        def service(client, name, price, cycle, currency, months):
            return make_service(
                cid,
                client,
                name=name,
                price=price,
                cycle=cycle,
                currency=currency,
                term_months=months,
                service_level="premium",
            )

        s = {
            "S1": service(acme, "S1", "300.00", C.MONTHLY, "EUR", 12),
            "S2": service(acme, "S2", "900.00", C.QUARTERLY, "EUR", 12),
            "S3": service(bluebird, "S3", "2400.00", C.ANNUAL, "USD", 12),
            "S4": service(bluebird, "S4", "100.00", C.MONTHLY, "USD", 3),
            "S5": service(acme, "S5", "12.00", C.WEEKLY, "USD", 2),
        }

        def on(day, action, *args, **kwargs):
            clock.move_to(at(day))
            action(cid, *args, **kwargs)
            work()

        on(D(2027, 1, 5), lc.activate, s["S4"], "am")
        on(D(2027, 1, 10), lc.activate, s["S1"], "am")
        on(D(2027, 1, 15), lc.activate, s["S2"], "am")
        on(D(2027, 1, 20), lc.activate, s["S3"], "am")
        on(D(2027, 1, 25), lc.activate, s["S5"], "am")
        clock.move_to(at(D(2027, 2, 1)))
        s["S6"] = service(bluebird, "S6", "600.00", C.SEMI_ANNUAL, "USD", 12)
        on(D(2027, 2, 8), lc.activate, s["S6"], "am")
        on(D(2027, 2, 15), lc.change_price, s["S1"], "am", Decimal("450.00"), note="30 seats")
        on(D(2027, 2, 20), lc.suspend, s["S4"], "am", reason="Invoice 90 days overdue")
        on(D(2027, 2, 22), lc.cancel, s["S3"], "am", reason="Moved to a competitor")
        on(D(2027, 2, 25), lc.change_price, s["S2"], "am", Decimal("720.00"))
        on(D(2027, 2, 27), lc.cancel, s["S5"], "am", reason="Not needed", at_term_end=True)
        on(D(2027, 3, 10), lc.resume, s["S4"], "am")
        clock.move_to(at(D(2027, 3, 25)))
        periodic.expire_due_services()  # the hourly job: S5's billing ends today
        clock.move_to(dt.datetime(2027, 4, 2, 10, tzinfo=dt.UTC))
        yield {"company": cid, "acme": acme, "bluebird": bluebird, **s}
