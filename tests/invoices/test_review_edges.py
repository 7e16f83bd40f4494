"""Review probes (scratch)."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from tests.invoices.test_bill_run import D, at, bill, lines, started
from tests.support.factories import make_client, make_service
from webapp.extensions import db
from webapp.invoices import actions as inv
from webapp.invoices.models import Invoice, ServiceInvoicing
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions as lc


def test_stop_while_suspended_after_a_change_in_the_suspension_is_settled(company):
    service = started(company, D(2026, 3, 1), price="31.00")
    bill(company, D(2026, 3, 1))
    with at(D(2026, 3, 11)):
        lc.suspend(company, service, "test", "paused")
    with at(D(2026, 3, 15)):
        lc.change_price(company, service, "test", Decimal("62.00"))
    with at(D(2026, 3, 20)):
        lc.cancel(company, service, "test", "gone")
    bill(company, D(2026, 3, 20))
    got = [(x.kind, x.amount) for x in lines(service)]
    assert got == [("period", Decimal("31.00")), ("credit", Decimal("-21.00"))]
    cursor = db.session.get(ServiceInvoicing, service)
    assert cursor.done


def test_pending_price_change_then_activation(company):
    with at(D(2026, 3, 1)):
        service = make_service(company, price="30.00")
    with at(D(2026, 3, 2)):
        lc.change_price(company, service, "test", Decimal("60.00"))
        lc.change_quantity(company, service, "test", 3)
    with at(D(2026, 3, 5)):
        lc.activate(company, service, "test")
    bill(company, D(2026, 4, 5))
    got = [(x.kind, x.amount) for x in lines(service)]
    assert got == [("period", Decimal("180.00")), ("period", Decimal("180.00"))]


def test_expire_while_suspended(company):
    service = started(company, D(2026, 1, 1), price="310.00", term_months=1)
    # no auto renew: term ends Feb 1
    bill(company, D(2026, 1, 1))
    with at(D(2026, 1, 21)):
        lc.suspend(company, service, "test", "x")
    with at(D(2026, 2, 20)):
        lc.expire(company, service)
    bill(company, D(2026, 2, 20))
    got = [(x.kind, x.amount) for x in lines(service)]
    # served Jan 1..20 (20 days of 31): credit 11 days
    assert got == [("period", Decimal("310.00")), ("credit", Decimal("-110.00"))]
    assert db.session.get(ServiceInvoicing, service).done


def test_void_then_next_run_does_not_bill_again(company):
    service = started(company, D(2026, 3, 1), price="31.00")
    r = bill(company, D(2026, 3, 1))
    with at(D(2026, 3, 2)):
        inv.void(company, r.document_ids[0], "test", "wrong")
    bill(company, D(2026, 3, 31))
    got = [(x.kind, x.amount) for x in lines(service)]
    assert got == [("period", Decimal("31.00")), ("void", Decimal("-31.00"))]


def test_imported_service_with_change_before_its_anchor(company):
    client = make_client(company)
    with at(D(2026, 3, 10)):
        with unit_of_work():
            (service,) = lc.import_services(
                company,
                [
                    lc.ImportedService(
                        client_id=client,
                        name="Imported",
                        service_type="backup",
                        status=ServiceStatus.ACTIVE,
                        price=Decimal("30.00"),
                        quantity=1,
                        currency="USD",
                        billing_cycle=BillingCycle.MONTHLY,
                        start_date=D(2026, 1, 1),
                        term_months=12,
                        term_end=D(2027, 1, 1),
                        next_bill_date=D(2026, 4, 1),
                        auto_renew=True,
                    )
                ],
                "test",
            )
    bill(company, D(2026, 3, 10))
    with at(D(2026, 3, 20)):
        lc.change_price(company, service, "test", Decimal("60.00"))
    bill(company, D(2026, 3, 21))
    assert lines(service) == []
    bill(company, D(2026, 4, 1))
    got = [(x.kind, x.period_start, x.amount) for x in lines(service)]
    assert got == [("period", D(2026, 4, 1), Decimal("60.00"))]
    cursor = db.session.get(ServiceInvoicing, service)
    assert cursor.settled_version == db.session.get(lc.ClientService, service).version
