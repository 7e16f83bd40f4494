"""MRR, proration and churn of the hand-computed fixture (design §9), driven through the real
lifecycle functions day by day, with every delivery run by the real worker at that date."""

import datetime as dt
from decimal import Decimal

import time_machine
from sqlalchemy import select

from tests.support.factories import make_service
from webapp.billing import queries as read_models
from webapp.billing.models import BillingAdjustment, RecurringBilling
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingStatus
from webapp.reports.revenue import churn_months, mrr_months, mrr_on
from webapp.services import actions as lc

D = dt.date

FEB, MAR, APR = D(2027, 2, 1), D(2027, 3, 1), D(2027, 4, 1)

TODAY = D(2027, 4, 2)


def at(day: dt.date, hour=9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def money(*values):
    return tuple(Decimal(v) for v in values)


def row(month):
    return (
        month.opening,
        month.new,
        month.expansion,
        month.resumed,
        month.contraction,
        month.churned,
        month.closing,
    )


def test_mrr_by_month_and_currency_with_its_movements(msp):
    months = mrr_months(msp["company"], FEB, APR, today=TODAY)
    assert list(months) == ["EUR", "USD"]
    eur, usd = months["EUR"], months["USD"]
    assert [m.month for m in eur] == [FEB, MAR, APR]
    #                         opening   new    expansion resumed contraction churned closing
    assert row(eur[0]) == money("600", "0", "150", "0", "60", "0", "690")
    assert row(usd[0]) == money("352", "100", "0", "0", "100", "200", "152")
    assert row(eur[1]) == money("690", "0", "0", "0", "0", "0", "690")
    assert row(usd[1]) == money("152", "0", "0", "100", "0", "52", "200")
    assert row(eur[2]) == money("690", "0", "0", "0", "0", "0", "690")
    assert row(usd[2]) == money("200", "0", "0", "0", "0", "0", "200")
    # Earned weighs each day's MRR by calendar days; the month under way has none yet.
    assert [m.earned for m in eur] == [Decimal("666.43"), Decimal("690.00"), None]
    assert [m.earned for m in usd] == [Decimal("344.86"), Decimal("211.23"), None]
    # Price changes record no billing adjustment any more (the invoicing settles them).
    assert [m.adjustments for m in eur] == [Decimal(0)] * 3
    assert [m.adjustments for m in usd] == [Decimal(0)] * 3


def test_the_bridge_adds_up_and_closing_is_the_next_opening(msp):
    for months in mrr_months(msp["company"], FEB, APR, today=TODAY).values():
        for m in months:
            assert m.opening + m.new + m.expansion + m.resumed - m.contraction - m.churned == (
                m.closing
            )
        assert [m.opening for m in months[1:]] == [m.closing for m in months[:-1]]


def test_ledger_mrr_today_is_the_overviews_mrr(msp):
    overview = read_models.mrr_by_currency(msp["company"])
    assert overview == {"EUR": Decimal("690.00"), "USD": Decimal("200.00")}
    assert mrr_on(msp["company"], TODAY) == overview
    # Before S5's end date its cancellation (filed on Feb 27) had not yet taken effect.
    assert mrr_on(msp["company"], D(2027, 3, 24))["USD"] == Decimal("252.00")


def test_billing_records_carry_the_prorated_amounts(msp):
    billing = {b.service_id: b for b in db.session.scalars(select(RecurringBilling)).all()}
    assert billing[msp["S1"]].amount == Decimal("450.00")
    assert billing[msp["S2"]].amount == Decimal("720.00")
    s3, s5 = billing[msp["S3"]], billing[msp["S5"]]
    assert (s3.status, s3.stopped_on, s3.final_amount) == (
        BillingStatus.STOPPED,
        D(2027, 2, 22),
        Decimal("216.99"),  # 2400 x 33 / 365 days
    )
    assert (s5.status, s5.stopped_on, s5.final_amount) == (
        BillingStatus.STOPPED,
        D(2027, 3, 25),
        Decimal("5.14"),  # 12 x 3 / 7 days
    )
    assert billing[msp["S4"]].next_bill_date == D(2027, 2, 23)  # Feb 5 + 18 days suspended
    # The upgrade (S1) and the downgrade (S2) inside their periods are the invoicing's to
    # settle, from their events: billing records no adjustment for them.
    assert db.session.scalars(select(BillingAdjustment)).all() == []


def percent(ratio):
    return None if ratio is None else (ratio * 100).quantize(Decimal("0.1"))


def test_churn_by_month(msp):
    months = churn_months(msp["company"], FEB, APR, today=TODAY)
    assert [(m.services_churned, m.services_at_start) for m in months] == [(1, 5), (1, 5), (0, 4)]
    assert [percent(m.service_rate) for m in months] == list(money("20.0", "20.0", "0.0"))
    assert [percent(m.revenue_rate["USD"]) for m in months] == list(money("56.8", "34.2", "0.0"))
    assert [percent(m.revenue_rate["EUR"]) for m in months] == list(money("0.0", "0.0", "0.0"))
    assert [percent(m.net_rate["EUR"]) for m in months] == list(money("-15.0", "0.0", "0.0"))
    assert [percent(m.net_rate["USD"]) for m in months] == list(money("85.2", "-31.6", "0.0"))


def test_one_clients_mrr_and_churn(msp):
    cid = msp["company"]
    acme = mrr_months(cid, FEB, APR, client_id=msp["acme"], today=TODAY)
    company = mrr_months(cid, FEB, APR, today=TODAY)
    assert acme["EUR"] == company["EUR"]  # all EUR services are Acme's
    assert [(m.opening, m.churned, m.closing) for m in acme["USD"]] == [
        money("52", "0", "52"),
        money("52", "52", "0"),
        money("0", "0", "0"),
    ]
    churn = churn_months(cid, FEB, APR, client_id=msp["acme"], today=TODAY)
    assert [(m.services_churned, m.services_at_start) for m in churn] == [(0, 3), (1, 3), (0, 2)]
    assert percent(churn[1].service_rate) == Decimal("33.3")
    assert percent(churn[1].revenue_rate["USD"]) == Decimal("100.0")
    assert churn[2].revenue_rate["USD"] is None  # nothing left to lose: no rate, not 0%

    bluebird = mrr_months(cid, FEB, APR, client_id=msp["bluebird"], today=TODAY)
    assert list(bluebird) == ["USD"]
    assert [m.closing for m in bluebird["USD"]] == list(money("100", "200", "200"))
    assert bluebird["USD"][1].resumed == Decimal("100.00")
    churn = churn_months(cid, FEB, APR, client_id=msp["bluebird"], today=TODAY)
    assert [(m.services_churned, m.services_at_start) for m in churn][:2] == [(1, 2), (0, 2)]
    assert percent(churn[0].service_rate) == Decimal("50.0")
    assert percent(churn[0].revenue_rate["USD"]) == Decimal("66.7")


def test_other_companies_rows_stay_out(msp, other_company, work):
    with time_machine.travel(at(D(2027, 2, 10)), tick=False):
        theirs = make_service(other_company, price="999.00", currency="EUR")
        lc.activate(other_company, theirs, "them")
        work()
    assert mrr_months(msp["company"], FEB, FEB, today=TODAY)["EUR"][0].closing == Decimal("690")
    assert mrr_on(other_company, TODAY) == {"EUR": Decimal("999.00")}
