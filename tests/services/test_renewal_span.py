"""Renewals on the service page (issue 14): the term shown is its real span, each renewal is
listed with the months it added, and term_months stays the length of one term."""

import datetime as dt
import re

import time_machine
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.pipeline.models import DomainEvent
from webapp.renewals import sweep as renewals_sweep
from webapp.services import actions as lc
from webapp.services.models import ClientService

START = dt.datetime(2026, 1, 25, 9, tzinfo=dt.UTC)


def _version(service_id):
    db.session.rollback()
    return db.session.get(ClientService, service_id).version


def _facts(html: str) -> dict[str, str]:
    """The service panel's facts as label: text (tags dropped, spaces squeezed)."""
    pairs = re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", html, re.S)
    return {label: " ".join(re.sub(r"<[^>]+>", " ", value).split()) for label, value in pairs}


def test_a_renewal_from_the_page_shows_the_real_span_and_the_months_it_added(as_role, company):
    with time_machine.travel(START, tick=False) as clock:
        service_id = make_service(company, term_months=12)
        lc.activate(company, service_id, "test")
        clock.move_to(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC))
        manager = as_role(R.ACCOUNT_MANAGER)
        response = manager.post(
            f"/services/{service_id}/renew",
            {"version": _version(service_id), "months": "12"},
            target="service_main",
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        facts = _facts(manager.get(f"/services/{service_id}").get_data(as_text=True))
    assert facts["Term"] == "2026-01-25 to 2028-01-25 (24 months)"
    assert facts["Each term"] == "12 months"
    assert facts["Renewals"] == (
        "Renewed for 12 months on 2026-12-01 (by account_manager@msp.example; term to 2028-01-25)"
    )
    db.session.rollback()
    service = db.session.get(ClientService, service_id)
    assert (service.term_months, service.term_end) == (12, dt.date(2028, 1, 25))
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceRenewed")
    ).one()
    assert (event.payload["months"], event.payload["term_end"]) == (12, "2028-01-25")


def test_renewals_of_other_lengths_add_up_and_the_form_offers_one_term(as_role, company):
    with time_machine.travel(START, tick=False) as clock:
        service_id = make_service(company, term_months=6, auto_renew=True)
        lc.activate(company, service_id, "test")
        lc.renew(company, service_id, "test", months=1)  # ends 2026-08-25
        clock.move_to(dt.datetime(2026, 8, 25, 3, tzinfo=dt.UTC))
        renewals_sweep.auto_renew_due()  # one more term of 6 months
        html = as_role(R.ACCOUNT_MANAGER).get(f"/services/{service_id}").get_data(as_text=True)
    facts = _facts(html)
    assert facts["Term"] == "2026-01-25 to 2027-02-25 (13 months)"
    assert facts["Each term"] == "6 months, renews automatically"
    assert facts["Renewals"] == (
        "Renewed for 6 months on 2026-08-25 (by scheduler; term to 2027-02-25) "
        "Renewed for 1 month on 2026-01-25 (by test; term to 2026-08-25)"
    )
    # The renew form starts from one term, not from a fixed 12 months.
    assert re.search(r'name="months"[^>]*value="6"', html)


def test_a_term_clamped_to_a_shorter_month_says_its_days(as_role, company):
    with time_machine.travel(dt.datetime(2026, 1, 31, 9, tzinfo=dt.UTC), tick=False):
        service_id = make_service(company, term_months=1)
        lc.activate(company, service_id, "test")  # ends 2026-02-28
        lc.renew(company, service_id, "test", months=1)  # ends 2026-03-28
        html = as_role(R.VIEWER).get(f"/services/{service_id}").get_data(as_text=True)
    assert _facts(html)["Term"] == "2026-01-31 to 2026-03-28 (1 month 28 days)"
