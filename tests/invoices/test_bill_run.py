"""The bill run against DESIGN.md's worked cases: anniversaries, catch-up, exactly once, going
forward, suspensions, changes and stops (the property test covers the space between)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from tests.support.factories import make_client, make_service, run_at_once
from webapp.extensions import db
from webapp.invoices.bill_run import BillRunRefused, run_bill_run
from webapp.invoices.models import Invoice, InvoiceLine, ServiceInvoicing
from webapp.lifecycle.statuses import BillingCycle, ServiceStatus
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions as lc


def at(day: dt.date, hour: int = 9):
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour), dt.UTC), tick=False)


def bill(company_id, day: dt.date):
    with at(day, 23):
        return run_bill_run(company_id, day, "test")


def lines(service_id):
    return db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.service_id == service_id).order_by(InvoiceLine.id)
    ).all()


def started(company_id, day, **kwargs):
    with at(day):
        service_id = make_service(company_id, **kwargs)
        lc.activate(company_id, service_id, "test")
    return service_id


D = dt.date


def test_monthly_periods_count_from_the_anchor_clamped_to_month_end(company):
    service = started(company, D(2026, 1, 31), price="31.00")
    bill(company, D(2026, 4, 1))  # missed runs: caught up at once
    got = [(x.period_start, x.period_end, x.amount) for x in lines(service)]
    assert got == [
        (D(2026, 1, 31), D(2026, 2, 28), Decimal("31.00")),
        (D(2026, 2, 28), D(2026, 3, 31), Decimal("31.00")),
        (D(2026, 3, 31), D(2026, 4, 30), Decimal("31.00")),
    ]
    cursor = db.session.get(ServiceInvoicing, service)
    assert (cursor.next_bill_date, cursor.paid_through) == (D(2026, 4, 30), D(2026, 4, 29))


def test_a_period_is_billed_once_and_runs_go_forward(company):
    service = started(company, D(2026, 3, 10))
    first = bill(company, D(2026, 3, 10))
    again = bill(company, D(2026, 3, 10))
    assert (first.invoices, again.invoices, again.lines) == (1, 0, 0)
    with pytest.raises(BillRunRefused, match="runs go forward"):
        bill(company, D(2026, 3, 9))
    assert len(lines(service)) == 1


def test_one_invoice_per_client_and_currency_numbered_without_gaps(company):
    acme, zeta = make_client(company, "Acme"), make_client(company, "Zeta", "z@zeta.example")
    for client_id, currency in ((zeta, "USD"), (acme, "EUR"), (acme, "USD"), (acme, "USD")):
        started(company, D(2026, 5, 1), client_id=client_id, currency=currency)
    bill(company, D(2026, 5, 1))
    docs = db.session.scalars(select(Invoice).order_by(Invoice.sequence)).all()
    assert [(d.number, d.client_id, d.currency, len(d.lines)) for d in docs] == [
        ("INV-2026-00001", acme, "EUR", 1),
        ("INV-2026-00002", acme, "USD", 2),
        ("INV-2026-00003", zeta, "USD", 1),
    ]
    assert docs[0].due_date == D(2026, 5, 15)


def test_suspended_days_push_the_period_end_and_no_credit(company):
    service = started(company, D(2026, 1, 1), price="310.00")
    bill(company, D(2026, 1, 1))
    with at(D(2026, 1, 11)):
        lc.suspend(company, service, "test", "unpaid")
    bill(company, D(2026, 2, 1))  # nothing starts while suspended
    assert len(lines(service)) == 1
    with at(D(2026, 2, 10)):
        lc.resume(company, service, "test")
    bill(company, D(2026, 2, 10))
    # 10 days served, 30 suspended: the 31-day period ends 30 days later, on March 2.
    cursor = db.session.get(ServiceInvoicing, service)
    assert (cursor.paid_through, cursor.next_bill_date) == (D(2026, 3, 2), D(2026, 3, 3))
    assert [x.kind for x in lines(service)] == ["period"]
    bill(company, D(2026, 3, 2))
    assert len(lines(service)) == 1
    bill(company, D(2026, 3, 3))
    assert lines(service)[-1].period_start == D(2026, 3, 3)
    assert lines(service)[-1].period_end == D(2026, 3, 31)  # Feb's 28 nominal days


def test_an_upgrade_mid_period_is_prorated_on_the_next_invoice(company):
    service = started(company, D(2026, 4, 1), price="30.00")
    bill(company, D(2026, 4, 1))
    with at(D(2026, 4, 11)):
        lc.change_price(company, service, "test", Decimal("45.00"))
    bill(company, D(2026, 4, 12))
    adjustment = lines(service)[-1]
    # (45 - 30) x 20 days left / 30
    assert (adjustment.kind, adjustment.amount) == ("adjustment", Decimal("10.00"))
    bill(company, D(2026, 5, 1))
    assert lines(service)[-1].amount == Decimal("45.00")


def test_a_change_on_the_first_day_counts_whether_or_not_its_line_was_made(company):
    late, early = (started(company, D(2026, 6, 1), price="30.00") for _ in range(2))
    bill(company, D(2026, 6, 1))
    with at(D(2026, 7, 1), 8):
        lc.change_price(company, early, "test", Decimal("60.00"))  # before the run
    bill(company, D(2026, 7, 1))
    with at(
        D(2026, 7, 1),
        23,
    ):
        lc.change_price(company, late, "test", Decimal("60.00"))  # after it
    bill(company, D(2026, 7, 1))
    assert [x.amount for x in lines(early)] == [Decimal("30.00"), Decimal("60.00")]
    assert [x.amount for x in lines(late)] == [
        Decimal("30.00"),
        Decimal("30.00"),
        Decimal("30.00"),  # (60 - 30) x 31/31
    ]


def test_cancelling_now_credits_the_unused_days_as_a_credit_note(company):
    service = started(company, D(2026, 9, 1), price="300.00")
    bill(company, D(2026, 9, 1))
    with at(D(2026, 9, 21)):
        lc.cancel(company, service, "test", "moving on")
    result = bill(company, D(2026, 9, 21))
    credit = lines(service)[-1]
    assert (credit.kind, credit.amount) == ("credit", Decimal("-100.00"))  # 10 of 30 days
    assert (result.invoices, result.credit_notes) == (0, 1)
    note = db.session.get(Invoice, result.document_ids[0])
    assert (note.number, note.total, note.due_date) == ("CN-2026-00001", Decimal("-100.00"), None)
    bill(company, D(2026, 12, 1))
    assert len(lines(service)) == 2
    assert db.session.get(ServiceInvoicing, service).done


def test_setup_fee_goes_on_the_first_invoice_and_one_time_bills_once(company):
    monthly = started(company, D(2026, 2, 1), setup_fee=Decimal("99.00"))
    once = started(company, D(2026, 2, 1), cycle=BillingCycle.ONE_TIME, price="500.00")
    bill(company, D(2026, 2, 1))
    bill(company, D(2026, 5, 1))
    assert [x.kind for x in lines(monthly)] == ["period", "setup", "period", "period", "period"]
    assert [(x.kind, x.amount) for x in lines(once)] == [("once", Decimal("500.00"))]
    # Each service has its own client here: one invoice on the first run for each, and the
    # monthly one's three more periods on the second run's invoice.
    assert db.session.scalar(select(func.count(Invoice.id))) == 3


def test_a_run_for_a_day_after_today_is_refused(company):
    started(company, D(2026, 2, 1))
    with at(D(2026, 2, 1)), pytest.raises(BillRunRefused, match="today or a day before"):
        run_bill_run(company, D(2026, 2, 2), "test")


def test_a_scheduled_cancellation_bills_up_to_its_day_then_credits_the_rest(company):
    service = started(company, D(2026, 1, 15), price="310.00", term_months=3)
    with at(D(2026, 2, 1)):
        lc.cancel(company, service, "test", "moving on", at_term_end=True)  # ends 2026-04-15
    bill(company, D(2026, 4, 14))
    with at(D(2026, 4, 15)):
        lc.cancel_when_due(company, service)
    bill(company, D(2026, 5, 20))
    got = [(x.kind, x.period_start, x.amount) for x in lines(service)]
    # Periods from Jan 15, Feb 15, Mar 15; none from Apr 15 (the day it ends): nothing unused.
    assert got == [
        ("period", D(2026, 1, 15), Decimal("310.00")),
        ("period", D(2026, 2, 15), Decimal("310.00")),
        ("period", D(2026, 3, 15), Decimal("310.00")),
    ]


def test_a_change_while_suspended_counts_from_the_resume_day(company):
    service = started(company, D(2026, 3, 1), price="31.00")
    bill(company, D(2026, 3, 1))
    with at(D(2026, 3, 11)):
        lc.suspend(company, service, "test", "paused")
    with at(D(2026, 3, 15)):
        lc.change_price(company, service, "test", Decimal("62.00"))
    bill(company, D(2026, 3, 20))
    assert len(lines(service)) == 1  # not settled while it is suspended
    with at(D(2026, 3, 21)):
        lc.resume(company, service, "test")
    bill(company, D(2026, 3, 21))
    # 10 days served before the suspension: 21 of the period's 31 days are left from Mar 21.
    assert lines(service)[-1].amount == Decimal("21.00")  # (62 - 31) x 21/31


def test_billing_dates_follow_suspensions_and_the_bill_run(company):
    from webapp.invoices.dates import service_billing_dates

    service = started(company, D(2026, 3, 1))
    with at(D(2026, 3, 1)):
        assert service_billing_dates(company, service).next_bill_date == D(2026, 3, 1)
    bill(company, D(2026, 3, 1))
    with at(D(2026, 3, 5)):
        dates = service_billing_dates(company, service)
        assert (dates.paid_through, dates.next_bill_date) == (D(2026, 3, 31), D(2026, 4, 1))
        lc.suspend(company, service, "test", "paused")
        dates = service_billing_dates(company, service)
        assert (dates.paid_through, dates.next_bill_date, dates.suspended) == (None, None, True)
    with at(D(2026, 3, 15)):
        lc.resume(company, service, "test")
        dates = service_billing_dates(company, service)
        assert (dates.paid_through, dates.next_bill_date) == (D(2026, 4, 10), D(2026, 4, 11))


def test_flask_billing_run_bills_and_refuses_a_day_before_the_last(company, runner):
    started(company, D(2026, 8, 3))
    with at(D(2026, 8, 4)):
        done = runner.invoke(args=["billing", "run", "--date", "2026-08-04"])
        refused = runner.invoke(args=["billing", "run", "--date", "2026-08-03"])
    assert done.exit_code == 0, done.output
    assert "1 invoices, 0 credit notes, 1 lines" in done.output
    assert refused.exit_code == 1
    assert "runs go forward" in refused.output


def test_a_parts_lines_are_written_a_batch_at_a_time(company, monkeypatch):
    """A first run catching up months of periods writes tens of thousands of lines a part: held
    as one list of rows (and again as the driver's parameters) they were most of the worker's
    peak memory at scale."""
    from sqlalchemy import event

    from webapp.invoices import documents

    monkeypatch.setattr(documents, "LINE_BATCH", 2, raising=False)
    acme, zeta = make_client(company, "Acme"), make_client(company, "Zeta", "z@zeta.example")
    services = [started(company, D(2026, 1, 31), client_id=c) for c in (acme, zeta, acme)]
    batches = []

    def count(_conn, clause, multiparams, _params, _options):
        if getattr(clause, "table", None) is InvoiceLine.__table__:
            batches.append(len(multiparams) or 1)  # one row: passed as params

    event.listen(db.engine, "before_execute", count)
    try:
        result = bill(company, D(2026, 3, 31))  # three periods each: nine lines
    finally:
        event.remove(db.engine, "before_execute", count)
    assert (result.invoices, result.lines, batches) == (2, 9, [2, 2, 2, 2, 1])
    written = db.session.scalars(select(InvoiceLine).order_by(InvoiceLine.id)).all()
    assert [(x.service_id, x.period_start) for x in written] == [
        (service, start)
        for service in (services[0], services[2], services[1])  # Acme's invoice, then Zeta's
        for start in (D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31))
    ]


def test_the_daily_job_runs_every_company(company, other_company):
    from webapp.invoices.commands import run_for_every_company

    started(company, D(2026, 8, 3))
    started(other_company, D(2026, 8, 3))
    with at(D(2026, 8, 3), 23):
        assert run_for_every_company() == 2
        assert run_for_every_company() == 0


def test_numbers_without_the_year_run_on_into_the_next_year(company):
    from webapp.company.models import Company

    with at(D(2026, 1, 1)):
        db.session.get(Company, company).number_with_year = False
        db.session.commit()
    started(company, D(2026, 12, 15), cycle=BillingCycle.WEEKLY)
    bill(company, D(2026, 12, 29))
    bill(company, D(2027, 1, 5))
    numbers = db.session.scalars(select(Invoice.number).order_by(Invoice.id)).all()
    assert numbers == ["INV-00001", "INV-00002"]


def test_a_company_whose_run_fails_stops_no_other(company, other_company, monkeypatch):
    from webapp.invoices import commands

    started(company, D(2026, 8, 3))
    started(other_company, D(2026, 8, 3))
    real = commands.run_bill_run

    def first_fails(company_id, *args):
        if company_id == company:
            raise RuntimeError("disk full")
        return real(company_id, *args)

    monkeypatch.setattr(commands, "run_bill_run", first_fails)
    with at(D(2026, 8, 3), 23), pytest.raises(RuntimeError, match="disk full"):
        commands.run_for_every_company()
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_a_stop_or_suspension_written_without_its_records_is_still_billed_right(company):
    """Services written in bulk (an old database, the scale seed) may lack the cancellation
    event or the suspension row: the service row is what billing goes by."""
    from sqlalchemy import delete, update

    from webapp.pipeline.models import DomainEvent, ListenerDelivery
    from webapp.services.models import ClientService, ServicePause

    cancelled = started(company, D(2026, 9, 1), price="300.00")
    suspended = started(company, D(2026, 9, 1), price="300.00")
    bill(company, D(2026, 9, 1))
    with at(D(2026, 9, 11)):
        lc.cancel(company, cancelled, "test", "gone")
        lc.suspend(company, suspended, "test", "unpaid")
    ids = select(DomainEvent.id).where(DomainEvent.type == "ServiceCancelled")
    db.session.execute(delete(ListenerDelivery).where(ListenerDelivery.event_id.in_(ids)))
    db.session.execute(
        update(DomainEvent).where(DomainEvent.type == "ServiceCancelled").values(service_id=None)
    )
    db.session.execute(delete(ServicePause))
    db.session.commit()
    bill(company, D(2026, 11, 1))
    assert [(x.kind, x.billing_key, x.amount) for x in lines(cancelled)][1:] == [
        ("credit", "stop", Decimal("-200.00"))
    ]
    assert [x.kind for x in lines(suspended)] == ["period"]
    assert db.session.get(ClientService, suspended).status == "suspended"


# --- Settling that ends, rows without their dates, a run beside changes ---


def test_a_stop_while_suspended_settles_a_change_made_in_the_suspension(company):
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


def test_changes_while_pending_are_what_it_starts_with(company):
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


def test_expiry_while_suspended_credits_from_the_suspension(company):
    service = started(company, D(2026, 1, 1), price="310.00", term_months=1)
    # No auto-renewal: the term ends on Feb 1.
    bill(company, D(2026, 1, 1))
    with at(D(2026, 1, 21)):
        lc.suspend(company, service, "test", "x")
    with at(D(2026, 2, 20)):
        lc.expire(company, service)
    bill(company, D(2026, 2, 20))
    got = [(x.kind, x.amount) for x in lines(service)]
    # Served Jan 1 to 20 (20 of 31 days): 11 days credited.
    assert got == [("period", Decimal("310.00")), ("credit", Decimal("-110.00"))]
    assert db.session.get(ServiceInvoicing, service).done


def test_a_change_before_an_imported_services_first_period_is_settled(company):
    client = make_client(company)
    with at(D(2026, 3, 10)), unit_of_work():
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


def test_a_cancelled_row_without_its_effective_day_stops_no_bill_run(company):
    from sqlalchemy import update

    from webapp.services.models import ClientService

    service = started(company, D(2026, 9, 1), price="300.00")
    other = started(company, D(2026, 9, 1), price="300.00")
    bill(company, D(2026, 9, 1))
    with at(D(2026, 9, 21)):
        lc.cancel(company, service, "test", "gone")
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service)
        .values(cancellation_effective_on=None)
    )
    db.session.commit()
    bill(company, D(2026, 10, 1))
    assert [(x.kind, x.amount) for x in lines(service)][1:] == [("credit", Decimal("-100.00"))]
    assert len(lines(other)) == 2


def test_a_bill_run_and_changes_at_once_neither_deadlock_nor_bill_twice(app, company):
    services = [started(company, D(2026, 3, 1), price="30.00") for _ in range(12)]
    with at(D(2026, 3, 1)):
        run_bill_run(company, D(2026, 3, 1), "test")
    day = D(2026, 4, 1)
    with at(day, 12):
        writers = [lambda: run_bill_run(company, day, "test")] + [
            lambda s=s: lc.change_price(company, s, "test", Decimal("60.00")) for s in services
        ]
        errors = run_at_once(app, *writers)
        assert errors == []
        run_bill_run(company, day, "test")
    for s in services:
        got = [(x.kind, x.amount) for x in lines(s)]
        # April's line at 30 then a full-period adjustment, or at 60 when the change came first.
        assert sum(a for _, a in got) == Decimal("90.00"), got


def test_periods_before_the_companys_invoicing_start_are_not_billed_here(company):
    """An installation upgraded to invoicing: what its services had before was billed by the
    tool used before, so the first run starts with the periods from that day on."""
    from webapp.company.models import Company

    old = started(company, D(2026, 1, 10), price="30.00", setup_fee=Decimal("99.00"))
    with at(D(2026, 3, 1)):
        db.session.get(Company, company).invoicing_starts_on = D(2026, 3, 1)
        db.session.commit()
    with at(D(2026, 3, 5)):
        lc.change_price(company, old, "test", Decimal("60.00"))  # in a period billed before
    bill(company, D(2026, 3, 8))
    assert lines(old) == []  # Feb 10 - Mar 9 was billed before; no setup fee, no adjustment
    bill(company, D(2026, 4, 10))
    assert [(x.kind, x.period_start, x.amount) for x in lines(old)] == [
        ("period", D(2026, 3, 10), Decimal("60.00")),
        ("period", D(2026, 4, 10), Decimal("60.00")),
    ]
    fresh = started(company, D(2026, 4, 10), price="10.00")
    bill(company, D(2026, 4, 10))
    assert [x.period_start for x in lines(fresh)] == [D(2026, 4, 10)]


def test_an_imported_one_time_service_was_charged_by_the_tool_before(company):
    from webapp.lifecycle.statuses import ServiceStatus
    from webapp.pipeline.outbox import unit_of_work

    client_id = make_client(company)
    with at(D(2026, 6, 1)), unit_of_work():
        [once, monthly] = lc.import_services(
            company,
            [
                lc.ImportedService(
                    client_id,
                    name,
                    "setup",
                    ServiceStatus.ACTIVE,
                    Decimal("500.00"),
                    1,
                    "USD",
                    cycle,
                    D(2026, 5, 1),
                    12,
                    D(2027, 5, 1),
                    next_bill,
                )  # fmt: skip
                for name, cycle, next_bill in (
                    ("Onboarding", BillingCycle.ONE_TIME, None),
                    ("Backup", BillingCycle.MONTHLY, D(2026, 6, 1)),
                )
            ],
            "import",
        )
    bill(company, D(2026, 6, 1))
    assert lines(once) == []
    assert [x.period_start for x in lines(monthly)] == [D(2026, 6, 1)]
    assert db.session.get(ServiceInvoicing, once).done


def test_the_invoicing_start_is_a_setting(company, as_role):
    from webapp.company.models import Company
    from webapp.lifecycle.statuses import UserRole

    admin = as_role(UserRole.ADMIN)
    page = admin.get("/settings").get_data(as_text=True)
    assert 'name="invoicing_starts_on"' in page
    form = {
        "invoice_prefix": "INV-",
        "credit_note_prefix": "CN-",
        "number_with_year": "y",
        "tax_rate": "20",
        "payment_terms_days": "14",
        "invoicing_starts_on": "2026-03-01",
    }
    assert admin.post("/settings/invoicing", data=form).status_code == 200
    db.session.expire_all()
    assert db.session.get(Company, company).invoicing_starts_on == D(2026, 3, 1)
