"""Transitions on stored services: guarded, atomic with their event, refused without a trace."""

import threading

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_client, make_service
from webapp.billing.models import RecurringBilling
from webapp.extensions import db
from webapp.lifecycle import ConcurrentTransition, InvalidTransition, ServiceStatus
from webapp.lifecycle.statuses import BillingStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services import actions as lc
from webapp.services.models import ClientService
from webapp.tenancy import NotFound

S = ServiceStatus


def act(company, service_id, action):
    calls = {
        "activate": lambda: lc.activate(company, service_id, "test"),
        "suspend": lambda: lc.suspend(company, service_id, "test", reason="unpaid"),
        "resume": lambda: lc.resume(company, service_id, "test"),
        "cancel": lambda: lc.cancel(company, service_id, "test", reason="leaving"),
        "renew": lambda: lc.renew(company, service_id, "test", months=12),
        "expire": lambda: lc.expire(company, service_id, "test"),
    }
    return calls[action]()


# How to bring a new service to each status.
PATHS = {
    S.PENDING: [],
    S.ACTIVE: ["activate"],
    S.SUSPENDED: ["activate", "suspend"],
    S.CANCELLED: ["cancel"],
    S.EXPIRED: ["activate", "expire"],
}


LEGAL = {
    (S.PENDING, "activate"): (S.ACTIVE, "ServiceActivated"),
    (S.PENDING, "cancel"): (S.CANCELLED, "ServiceCancelled"),
    (S.ACTIVE, "suspend"): (S.SUSPENDED, "ServiceSuspended"),
    (S.ACTIVE, "cancel"): (S.CANCELLED, "ServiceCancelled"),
    (S.ACTIVE, "renew"): (S.ACTIVE, "ServiceRenewed"),
    (S.ACTIVE, "expire"): (S.EXPIRED, "ServiceExpired"),
    (S.SUSPENDED, "resume"): (S.ACTIVE, "ServiceResumed"),
    (S.SUSPENDED, "cancel"): (S.CANCELLED, "ServiceCancelled"),
    (S.SUSPENDED, "renew"): (S.SUSPENDED, "ServiceRenewed"),
    (S.SUSPENDED, "expire"): (S.EXPIRED, "ServiceExpired"),
}


ACTIONS = ["activate", "suspend", "resume", "cancel", "renew", "expire"]

ILLEGAL = [(s, a) for s in PATHS for a in ACTIONS if (s, a) not in LEGAL]


def service_in(company, status):
    service_id = make_service(company)
    for step in PATHS[status]:
        act(company, service_id, step)
    return service_id


def snapshot(service_id):
    db.session.expire_all()
    row = db.session.get(ClientService, service_id)
    columns = {c.key: getattr(row, c.key) for c in ClientService.__table__.columns}
    events = db.session.scalar(select(func.count()).select_from(DomainEvent))
    deliveries = db.session.scalar(select(func.count()).select_from(ListenerDelivery))
    return columns, events, deliveries


@pytest.mark.parametrize(("status", "action"), list(LEGAL))
def test_legal_transition_changes_status_and_records_its_event(company, status, action):
    service_id = service_in(company, status)
    before = db.session.get(ClientService, service_id).version
    act(company, service_id, action)
    db.session.expire_all()
    service = db.session.get(ClientService, service_id)
    expected_status, expected_event = LEGAL[(status, action)]
    assert service.status == expected_status
    assert service.version == before + 1
    last = db.session.scalars(select(DomainEvent).order_by(DomainEvent.id.desc())).first()
    assert (last.type, last.service_id, last.actor) == (expected_event, service_id, "test")
    assert last.enqueued_at is not None  # Redis was up, so it was sent after commit


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(company, status, action):
    service_id = service_in(company, status)
    before = snapshot(service_id)
    with pytest.raises(InvalidTransition, match=f"Cannot {action} service {service_id}"):
        act(company, service_id, action)
    assert snapshot(service_id) == before


def test_provision_records_the_pending_service_and_its_event(company):
    service_id = make_service(company, price="49.95", currency="eur")
    service = db.session.get(ClientService, service_id)
    assert (service.status, str(service.price), service.currency) == (S.PENDING, "49.95", "EUR")
    event = db.session.scalars(select(DomainEvent)).one()
    assert event.type == "ServiceProvisioned"
    assert event.payload["price"] == "49.95"


def test_another_companys_service_is_not_found(company, other_company):
    service_id = make_service(company)
    with pytest.raises(NotFound):
        lc.activate(other_company, service_id, "test")
    assert db.session.get(ClientService, service_id).status == S.PENDING


def test_provision_for_another_companys_client_is_not_found(company, other_company):
    client_id = make_client(company)
    with pytest.raises(NotFound):
        make_service(other_company, client_id)


def test_stale_version_is_a_conflict_with_nothing_changed(company):
    service_id = service_in(company, S.ACTIVE)
    seen = db.session.get(ClientService, service_id).version
    lc.renew(company, service_id, "someone else", months=1)
    before = snapshot(service_id)
    with pytest.raises(ConcurrentTransition, match="changed by someone else"):
        lc.suspend(company, service_id, "test", reason="x", expected_version=seen)
    assert snapshot(service_id) == before


def test_two_concurrent_activations_make_one_transition_and_one_billing_record(app, company, work):
    service_id = make_service(company)
    barrier = threading.Barrier(2)
    outcomes = []

    def activate():
        with app.app_context():
            barrier.wait()
            try:
                lc.activate(company, service_id, "test")
                outcomes.append("won")
            except (InvalidTransition, ConcurrentTransition) as exc:
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=activate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    db.session.rollback()  # end this session's read snapshot, taken before the threads ran

    assert sorted(outcomes)[1:] == ["won"] and len(outcomes) == 2
    assert outcomes.count("won") == 1
    activations = db.session.scalar(
        select(func.count()).where(DomainEvent.type == "ServiceActivated")
    )
    assert activations == 1
    work()
    billing = db.session.scalars(select(RecurringBilling)).all()
    assert len(billing) == 1 and billing[0].status == BillingStatus.ACTIVE


def test_renew_needs_at_least_one_month(company):
    service_id = service_in(company, S.ACTIVE)
    with pytest.raises(ValueError, match="at least one month"):
        lc.renew(company, service_id, "test", months=0)


def test_cancel_at_term_end_takes_effect_on_the_term_end(company):
    service_id = service_in(company, S.ACTIVE)
    lc.cancel(company, service_id, "test", reason="budget", at_term_end=True)
    service = db.session.get(ClientService, service_id)
    assert service.cancellation_effective_on == service.term_end
    assert service.auto_renew is False
