"""Marking an invoice paid and voiding it by a credit note (webapp.invoices.actions)."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support.factories import active_service, make_client, make_invoice, run_at_once
from webapp.clients.models import Client
from webapp.clock import today
from webapp.extensions import db
from webapp.invoices import actions
from webapp.invoices.models import PERIOD, VOID_LINE, Invoice, InvoiceLine
from webapp.lifecycle.transitions import TransitionRefused
from webapp.pipeline.models import DomainEvent
from webapp.tenancy import NotFound

ACTOR = "user:1 manager@msp.example"


def invoice(invoice_id) -> Invoice:
    db.session.rollback()
    return db.session.get(Invoice, invoice_id)


def events(company_id, kind) -> list[DomainEvent]:
    db.session.rollback()
    return db.session.scalars(
        select(DomainEvent)
        .where(DomainEvent.company_id == company_id, DomainEvent.type == kind)
        .order_by(DomainEvent.id)
    ).all()


def test_marking_paid_records_the_day_the_reference_and_the_event(company):
    issued = make_invoice(company, issue_date=today() - dt.timedelta(days=3))
    paid_on = today() - dt.timedelta(days=1)
    actions.mark_paid(company, issued, ACTOR, paid_on, "  BACS 4471  ")
    row = invoice(issued)
    assert (row.status, row.paid_on, row.payment_reference) == ("paid", paid_on, "BACS 4471")
    (event,) = events(company, "InvoicePaid")
    assert event.actor == ACTOR and event.service_id is None
    assert event.payload == {
        "service_id": None,
        "invoice_id": issued,
        "client_id": row.client_id,
        "number": row.number,
        "paid_on": paid_on.isoformat(),
        "reference": "BACS 4471",
    }


@pytest.mark.parametrize(
    ("days", "message"),
    [(1, "has not come yet"), (-10, "Before the invoice's date")],
)
def test_a_payment_day_in_the_future_or_before_the_invoice_is_refused_beside_its_field(
    company, days, message
):
    issued = make_invoice(company, issue_date=today() - dt.timedelta(days=3))
    with pytest.raises(actions.InvoiceRefused, match=message) as refused:
        actions.mark_paid(company, issued, ACTOR, today() + dt.timedelta(days=days), "")
    assert refused.value.field == "paid_on"
    assert invoice(issued).status == "issued"
    assert events(company, "InvoicePaid") == []


def test_a_paid_a_void_invoice_and_a_credit_note_cannot_be_paid(company):
    paid = make_invoice(company)
    actions.mark_paid(company, paid, ACTOR, today(), "")
    voided = make_invoice(company)
    actions.void(company, voided, ACTOR, "sent twice")
    credit_note = make_invoice(company, amounts=("-40.00",))
    for document, message in [
        (paid, "was paid on"),
        (voided, "is void"),
        (credit_note, "is a credit note"),
    ]:
        with pytest.raises(TransitionRefused, match=message):
            actions.mark_paid(company, document, ACTOR, today(), "again")
    assert invoice(credit_note).status == "issued"
    assert invoice(voided).status == "void"
    assert len(events(company, "InvoicePaid")) == 1


def test_voiding_issues_a_credit_note_that_reverses_every_line(company):
    client = make_client(company)
    service = active_service(company, client)
    db.session.get(Client, client).tax_rate = Decimal("20")
    db.session.commit()
    issued = make_invoice(company, client, ("100.00", "-12.35"), service_id=service)
    # The rate changes after the invoice: the credit note still reverses its tax exactly.
    db.session.get(Client, client).tax_rate = Decimal("7.5")
    db.session.commit()

    credit_id = actions.void(company, issued, ACTOR, "  wrong client  ")

    original, credit = invoice(issued), invoice(credit_id)
    assert (original.status, original.voided_by_id) == ("void", credit_id)
    assert credit.kind == "credit_note" and credit.status == "issued"
    assert (credit.credits_invoice_id, credit.note, credit.issue_date) == (
        issued,
        "wrong client",
        today(),
    )
    assert credit.due_date is None and credit.client_id == client
    assert (credit.net_total, credit.tax_rate, credit.tax_total, credit.total) == (
        -original.net_total,
        original.tax_rate,
        -original.tax_total,
        -original.total,
    )
    assert original.tax_total == Decimal("17.53")  # 87.65 at 20%, rounded half up
    assert [
        (
            line.kind,
            line.billing_key,
            line.service_id,
            line.period_start,
            line.period_end,
            line.quantity,
            line.unit_price,
            line.amount,
            line.description,
        )
        for line in credit.lines
    ] == [
        (
            VOID_LINE,
            None,
            line.service_id,
            line.period_start,
            line.period_end,
            line.quantity,
            line.unit_price,
            -line.amount,
            f"Void: {line.description}",
        )
        for line in original.lines
    ]
    (event,) = events(company, "CreditNoteIssued")
    assert event.payload["credits_invoice_id"] == issued
    assert event.payload["invoice_id"] == credit_id
    assert event.payload["total"] == str(credit.total)


def test_the_voided_periods_stay_billed(company):
    service = active_service(company)
    issued = make_invoice(company, service_id=service)
    db.session.execute(
        InvoiceLine.__table__.update()
        .where(InvoiceLine.invoice_id == issued)
        .values(billing_key="period:2026-01-01")
    )
    db.session.commit()
    actions.void(company, issued, ACTOR, "duplicate")
    db.session.rollback()
    keys = db.session.execute(
        select(InvoiceLine.kind, InvoiceLine.billing_key)
        .where(InvoiceLine.service_id == service)
        .order_by(InvoiceLine.id)
    ).all()
    # The invoice's line keeps the key the bill run looks for; the reversal carries none.
    assert keys == [(PERIOD, "period:2026-01-01"), (VOID_LINE, None)]


def test_credit_notes_are_numbered_in_their_own_gapless_sequence(company):
    first, second, third = (make_invoice(company) for _ in range(3))
    credits = [actions.void(company, document, ACTOR, "test") for document in (third, first)]
    after = make_invoice(company)
    year = today().year
    assert [invoice(i).number for i in (first, second, third, after)] == [
        f"INV-{year}-0000{n}" for n in (1, 2, 3, 4)
    ]
    assert [invoice(i).number for i in credits] == [f"CN-{year}-00001", f"CN-{year}-00002"]


@pytest.mark.parametrize("state", ["paid", "void", "credit note"])
def test_only_an_issued_unpaid_invoice_is_voided(company, state):
    document = make_invoice(company, amounts=("-5.00",) if state == "credit note" else ("9.00",))
    if state == "paid":
        actions.mark_paid(company, document, ACTOR, today(), "")
    elif state == "void":
        actions.void(company, document, ACTOR, "first")
    credit_notes = db.session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.kind == "credit_note")
    )
    with pytest.raises(
        TransitionRefused,
        match={"paid": "was paid on", "void": "is void"}.get(state, "is a credit note"),
    ):
        actions.void(company, document, ACTOR, "again")
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.kind == "credit_note")
        )
        == credit_notes
    )


def test_voiding_needs_a_reason_and_an_invoice_that_charges_something(company):
    issued = make_invoice(company)
    with pytest.raises(actions.InvoiceRefused, match="Say why") as refused:
        actions.void(company, issued, ACTOR, "   ")
    assert refused.value.field == "reason"
    nothing = make_invoice(company, amounts=("10.00", "-10.00"))
    with pytest.raises(actions.InvoiceRefused, match="charges nothing"):
        actions.void(company, nothing, ACTOR, "empty")
    assert invoice(issued).status == invoice(nothing).status == "issued"


def test_another_companys_invoice_is_not_found(company, other_company):
    theirs = make_invoice(other_company, make_client(other_company, name="Theirs"))
    with pytest.raises(NotFound):
        actions.mark_paid(company, theirs, ACTOR, today(), "")
    with pytest.raises(NotFound):
        actions.void(company, theirs, ACTOR, "not mine")
    assert invoice(theirs).status == "issued"


def test_a_payment_and_a_void_at_once_are_made_one_after_the_other(app, company):
    documents = [make_invoice(company) for _ in range(4)]
    writers = [
        lambda d=d: actions.mark_paid(company, d, ACTOR, today(), "at once") for d in documents
    ] + [lambda d=d: actions.void(company, d, ACTOR, "at once") for d in documents]
    errors = run_at_once(app, *writers)
    # Each invoice: one of the two was made, and the other refused by what the first did.
    assert len(errors) == len(documents), errors
    assert all("InvoiceRefused" in e for e in errors), errors
    for document in documents:
        row = invoice(document)
        assert row.status in ("paid", "void")
        assert (row.voided_by_id is not None) == (row.status == "void")
    credit_notes = db.session.scalars(
        select(Invoice.sequence).where(Invoice.kind == "credit_note").order_by(Invoice.sequence)
    ).all()
    assert credit_notes == list(range(1, sum(invoice(d).status == "void" for d in documents) + 1))
