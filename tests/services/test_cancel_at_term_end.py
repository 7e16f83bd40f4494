"""A cancellation at the end of the term (issue 14): scheduled, the service runs on until its
term end with its actions, incidents, renewals row and billing, and can be undone; on that day
the scheduler cancels it, once, and billing stops then."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from tests.activity.test_activity import rows
from tests.support.factories import make_service, make_user
from webapp.billing.models import RecurringBilling, RevenueMovement
from webapp.clients.models import Contact
from webapp.extensions import db
from webapp.incidents import recording
from webapp.lifecycle import InvalidTransition
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus
from webapp.lifecycle.statuses import UserRole as R
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent
from webapp.renewals import sweep as renewals_sweep
from webapp.reports.at_risk import revenue_at_risk
from webapp.services import actions as lc
from webapp.services import cancellations
from webapp.services import expiry as services_expiry
from webapp.services.models import ClientService

START = dt.datetime(2027, 1, 10, 9, tzinfo=dt.UTC)
TERM_END = dt.date(2027, 4, 10)  # a 3-month term activated on START


def at(day: dt.date, hour=9):
    return time_machine.travel(dt.datetime.combine(day, dt.time(hour), dt.UTC), tick=False)


def _service(company, **kwargs):
    """An active monthly service at 300.00 EUR whose 3-month term ends on TERM_END."""
    service_id = make_service(company, price="300.00", currency="EUR", term_months=3, **kwargs)
    lc.activate(company, service_id, "test")
    return service_id


def _fresh(service_id) -> ClientService:
    db.session.rollback()
    return db.session.get(ClientService, service_id)


def _events(service_id, type_=None):
    query = select(DomainEvent).where(DomainEvent.service_id == service_id)
    if type_:
        query = query.where(DomainEvent.type == type_)
    return db.session.scalars(query.order_by(DomainEvent.id)).all()


def _scheduled(company, **kwargs):
    with time_machine.travel(START, tick=False):
        service_id = _service(company, **kwargs)
        lc.cancel(company, service_id, "test", reason="moving in-house", at_term_end=True)
    return service_id


def test_scheduling_keeps_the_service_running_and_records_its_own_event(company, work):
    service_id = _scheduled(company)
    work()
    service = _fresh(service_id)
    assert service.status == ServiceStatus.ACTIVE
    assert (service.cancellation_effective_on, service.cancellation_reason) == (
        TERM_END,
        "moving in-house",
    )
    assert (service.cancelled_at, service.auto_renew, service.ends_on) == (None, False, TERM_END)
    event = _events(service_id)[-1]
    assert (event.type, event.actor) == ("ServiceCancellationScheduled", "test")
    assert event.payload["effective_on"] == TERM_END.isoformat()
    assert _events(service_id, "ServiceCancelled") == []
    # Billing runs on, and no revenue has left yet.
    billing = db.session.scalars(select(RecurringBilling)).one()
    assert (billing.status, billing.ends_on) == (BillingStatus.ACTIVE, None)
    assert db.session.scalars(
        select(RevenueMovement.kind).where(RevenueMovement.service_id == service_id)
    ).all() == ["new"]


def test_until_then_it_takes_incidents_and_price_changes(company):
    service_id = _scheduled(company)
    with time_machine.travel(START + dt.timedelta(days=20), tick=False):
        incident, created = recording.record(
            company, recording.NewIncident(service_id, "Backup failed", "high"), "test"
        )
        lc.change_price(company, service_id, "test", Decimal("350.00"), note="more seats")
    assert created and incident.service_id == service_id
    service = _fresh(service_id)
    assert (service.price, service.status) == (Decimal("350.00"), ServiceStatus.ACTIVE)
    assert service.cancellation_effective_on == TERM_END  # the schedule stays


def test_the_pages_show_it_ending_with_its_actions_and_keep_it_in_renewals(as_role, company):
    service_id = _scheduled(company)
    with time_machine.travel(START + dt.timedelta(days=1), tick=False):
        manager = as_role(R.ACCOUNT_MANAGER)
        detail = manager.get(f"/services/{service_id}").get_data(as_text=True)
        listed = manager.get("/services").get_data(as_text=True)
        renewals = manager.get("/renewals?days=90").get_data(as_text=True)
    assert "ends on 2027-04-10" in detail
    assert "cancelled at the end of its term: moving in-house" in detail
    for action in ("undo_cancellation", "change_price", "suspend", "cancel"):
        assert f'data-action="{action}"' in detail
    assert 'data-action="renew"' not in detail  # a term that is ending is not extended
    assert 'name="when"' not in detail  # a second cancellation can only be one now
    assert "ends on 2027-04-10" in listed
    assert f"/services/{service_id}" in renewals and "ends on 2027-04-10" in renewals
    assert "undo it</a> to renew" in renewals


def test_undo_from_the_page_clears_it_restores_auto_renew_and_is_in_the_trail(
    as_role, company, work
):
    service_id = _scheduled(company, auto_renew=True)
    assert _fresh(service_id).auto_renew is False  # not renewed while it is ending
    with time_machine.travel(START + dt.timedelta(days=30), tick=False):
        manager = as_role(R.ACCOUNT_MANAGER)
        response = manager.post(
            f"/services/{service_id}/undo_cancellation",
            {"version": _fresh(service_id).version},
            target="service_main",
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert "ends on" not in response.get_data(as_text=True)
        work()
        detail = manager.get(f"/services/{service_id}").get_data(as_text=True)
        trail = rows(manager.get("/activity").get_data(as_text=True))
    assert "cancellation undone" in trail[0] and "no longer ends on 2027-04-10" in trail[0]
    assert "cancellation scheduled" in trail[1]
    assert "ends on 2027-04-10, reason: moving in-house" in trail[1]
    service = _fresh(service_id)
    assert (service.cancellation_effective_on, service.cancellation_reason) == (None, None)
    assert (service.status, service.auto_renew) == (ServiceStatus.ACTIVE, True)
    undone = _events(service_id, "ServiceCancellationUndone")
    assert len(undone) == 1 and undone[0].payload["effective_on"] == TERM_END.isoformat()
    assert undone[0].actor.endswith("account_manager@msp.example")
    assert "ServiceCancellationUndone" in detail and 'data-action="renew"' in detail
    # And the scheduler has nothing to do on the day.
    with at(TERM_END):
        assert cancellations.cancel_due_services() == 0
    assert _fresh(service_id).status == ServiceStatus.ACTIVE


def test_undo_is_refused_on_the_day_and_when_nothing_is_scheduled(company):
    service_id = _scheduled(company)
    with at(TERM_END), pytest.raises(lc.CancellationRefused, match="can no longer be undone"):
        lc.undo_cancellation(company, service_id, "test")
    with time_machine.travel(START, tick=False):
        running = _service(company)
        with pytest.raises(lc.CancellationRefused, match="no cancellation to undo"):
            lc.undo_cancellation(company, running, "test")
    assert _events(running, "ServiceCancellationUndone") == []


def test_on_the_day_the_sweep_cancels_it_once_and_billing_stops_then(company, work):
    service_id = _scheduled(company)
    work()
    with at(TERM_END - dt.timedelta(days=1)):
        assert cancellations.cancel_due_services() == 0
    with at(TERM_END, hour=2):
        services_expiry.expire_due_services()
        services_expiry.expire_due_services()  # a second run finds nothing more
        assert cancellations.cancel_due_services() == 0
        work()
    service = _fresh(service_id)
    assert (service.status, service.cancellation_effective_on) == (
        ServiceStatus.CANCELLED,
        TERM_END,
    )
    cancelled = _events(service_id, "ServiceCancelled")
    assert len(cancelled) == 1
    assert cancelled[0].actor == "scheduler"
    assert cancelled[0].payload == {
        "service_id": service_id,
        "reason": "moving in-house",
        "effective_on": TERM_END.isoformat(),
        "at_term_end": True,
    }
    billing = db.session.scalars(select(RecurringBilling)).one()
    assert (billing.status, billing.stopped_on) == (BillingStatus.STOPPED, TERM_END)
    churn = db.session.execute(
        select(RevenueMovement.effective_on, RevenueMovement.amount).where(
            RevenueMovement.kind == "churned"
        )
    ).all()
    assert churn == [(TERM_END, Decimal("-300.00"))]


def test_a_late_sweep_still_ends_it_on_the_day_it_was_scheduled_for(company, work):
    service_id = _scheduled(company)
    with at(TERM_END + dt.timedelta(days=3)):
        assert cancellations.cancel_due_services() == 1
        work()
    assert _events(service_id, "ServiceCancelled")[0].payload["effective_on"] == "2027-04-10"
    billing = db.session.scalars(select(RecurringBilling)).one()
    assert billing.stopped_on == TERM_END


def test_scheduling_and_undoing_notify_the_primary_contacts_and_the_manager(company, work):
    manager = make_user(company)
    service_id = _scheduled(company, manager_id=manager)
    client_id = _fresh(service_id).client_id
    db.session.add(
        Contact(
            company_id=company,
            client_id=client_id,
            name="Bookkeeper",
            email="books@acme.example",
            is_billing=True,
        )
    )
    db.session.commit()
    with time_machine.travel(START + dt.timedelta(days=5), tick=False):
        lc.undo_cancellation(company, service_id, "test")
    work()
    sent = {
        (n.listener, n.recipient, n.subject)
        for n in db.session.scalars(
            select(Notification).where(
                Notification.channel == "email", Notification.listener.like("notify.cancellation%")
            )
        )
    }
    assert sent == {
        ("notify.cancellation_scheduled", r, "Managed Backup will end on 2027-04-10")
        for r in ("it@acme.example", "manager@msp.example")
    } | {
        ("notify.cancellation_undone", r, "Managed Backup will carry on")
        for r in ("it@acme.example", "manager@msp.example")
    }


def test_cancelling_now_replaces_the_schedule(company, work):
    service_id = _scheduled(company)
    on = START + dt.timedelta(days=10)
    with time_machine.travel(on, tick=False):
        lc.cancel(company, service_id, "test", reason="changed their mind")
        work()
    service = _fresh(service_id)
    assert service.status == ServiceStatus.CANCELLED
    assert (service.cancellation_effective_on, service.cancellation_reason) == (
        on.date(),
        "changed their mind",
    )
    event = _events(service_id, "ServiceCancelled")[0]
    assert (event.payload["effective_on"], event.payload["at_term_end"]) == ("2027-01-20", False)
    assert db.session.scalars(select(RecurringBilling)).one().stopped_on == on.date()
    with at(TERM_END):
        assert cancellations.cancel_due_services() == 0


def test_a_term_that_has_ended_is_cancelled_at_once_as_before(company):
    with time_machine.travel(START, tick=False):
        service_id = _service(company)
    with at(TERM_END):  # the term ends today
        lc.cancel(company, service_id, "test", reason="late", at_term_end=True)
    service = _fresh(service_id)
    assert (service.status, service.cancellation_effective_on) == (
        ServiceStatus.CANCELLED,
        TERM_END,
    )
    assert _events(service_id, "ServiceCancellationScheduled") == []


def test_what_a_scheduled_cancellation_refuses_changes_nothing(company):
    service_id = _scheduled(company)
    pending = make_service(company)
    seen = _fresh(service_id).version
    with time_machine.travel(START + dt.timedelta(days=1), tick=False):
        with pytest.raises(lc.CancellationRefused, match="already ends on 2027-04-10"):
            lc.cancel(company, service_id, "test", reason="again", at_term_end=True)
        with pytest.raises(lc.CancellationRefused, match="undo its cancellation to renew"):
            lc.renew(company, service_id, "test", months=12)
        with pytest.raises(InvalidTransition, match="it is pending"):
            lc.cancel(company, pending, "test", reason="never mind", at_term_end=True)
    service = _fresh(service_id)
    assert (service.version, service.term_end, service.cancellation_reason) == (
        seen,
        TERM_END,
        "moving in-house",
    )
    assert _fresh(pending).status == ServiceStatus.PENDING
    count = db.session.scalar(
        select(func.count()).where(DomainEvent.type == "ServiceCancellationScheduled")
    )
    assert count == 1


def test_neither_reminded_nor_renewed_nor_expired_while_ending(app, company):
    service_id = _scheduled(company)
    # Even were auto-renew set again by hand, the renewal sweep leaves it alone.
    db.session.execute(
        ClientService.__table__.update()
        .where(ClientService.id == service_id)
        .values(auto_renew=True)
    )
    db.session.commit()
    with at(TERM_END - dt.timedelta(days=7)):
        assert renewals_sweep.send_reminders() == 0
    with at(TERM_END):
        assert renewals_sweep.auto_renew_due() == 0
    grace = app.config["EXPIRY_GRACE_DAYS"]
    with at(TERM_END + dt.timedelta(days=grace + 1)):
        assert services_expiry.expire_due_services() == 0  # cancelled, not expired
    service = _fresh(service_id)
    assert (service.status, service.term_end) == (ServiceStatus.CANCELLED, TERM_END)
    assert _events(service_id, "ServiceRenewed") == []
    assert _events(service_id, "ServiceDueForRenewal") == []


def test_revenue_at_risk_lists_it_as_leaving_not_as_a_term_ending(company):
    service_id = _scheduled(company)
    risk = revenue_at_risk(company, today=dt.date(2027, 3, 1))
    assert [r.service_id for r in risk.rows] == []
    assert [(r.service_id, r.cancellation_effective_on, r.mrr) for r in risk.scheduled] == [
        (service_id, TERM_END, Decimal("300.00"))
    ]
    assert risk.scheduled_totals == {"EUR": Decimal("300.00")}


def test_the_cancel_form_offers_the_term_end_only_for_a_running_term(as_role, company):
    with time_machine.travel(START, tick=False):
        pending = make_service(company)
        running = _service(company)
        manager = as_role(R.ACCOUNT_MANAGER)
        pending_page = manager.get(f"/services/{pending}").get_data(as_text=True)
        running_page = manager.get(f"/services/{running}").get_data(as_text=True)
    assert 'data-action="cancel"' in pending_page and 'name="when"' not in pending_page
    assert 'name="when"' in running_page and "At the end of the term" in running_page
