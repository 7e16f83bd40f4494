"""Small factories for the tests: clients, people, services, breaches, and Redis switched for a block."""

import datetime as dt
import threading
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import update

from webapp.accounts.models import User
from webapp.clients.models import Client, Contact
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import recording
from webapp.invoices.documents import NewDocument, NewLine, issue_documents, lock_company
from webapp.invoices.models import PERIOD
from webapp.lifecycle.statuses import BillingCycle, UserRole
from webapp.pipeline import delivery
from webapp.pipeline.outbox import unit_of_work
from webapp.services import actions as lc
from webapp.services.models import ClientService


@contextmanager
def redis_at(app, url):
    """Point the app at another Redis (one that is down, or one the test stops) meanwhile."""
    shared = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = url
    app.extensions.pop("redis", None)
    try:
        yield
    finally:
        app.config["REDIS_URL"] = shared
        app.extensions.pop("redis", None)


def fail_listener(monkeypatch, name, error):
    """Make one listener raise `error` until monkeypatch.undo()."""

    def failing(event):
        raise error

    monkeypatch.setitem(delivery.listeners(), name, failing)


def make_client(company_id, name="Acme Dental", email="it@acme.example"):
    """A client whose one contact (`email`, when given) holds every role."""
    row = Client(company_id=company_id, name=name)
    db.session.add(row)
    db.session.flush()
    if email:
        db.session.add(
            Contact(
                company_id=company_id,
                client_id=row.id,
                name="Office Manager",
                email=email,
                is_primary=True,
                is_billing=True,
                is_technical=True,
            )
        )
    db.session.commit()
    return row.id


def make_user(company_id, email="manager@msp.example", role=UserRole.ACCOUNT_MANAGER):
    row = User(company_id=company_id, email=email, name=email.split("@")[0], role=role)
    db.session.add(row)
    db.session.commit()
    return row.id


def make_service(
    company_id,
    client_id=None,
    *,
    price="100.00",
    cycle=BillingCycle.MONTHLY,
    currency="USD",
    term_months=12,
    manager_id=None,
    **kwargs,
):
    client_id = client_id or make_client(company_id)
    new = lc.NewService(
        client_id=client_id,
        name=kwargs.pop("name", "Managed Backup"),
        service_type="backup",
        price=Decimal(price),
        currency=currency,
        billing_cycle=cycle,
        term_months=term_months,
        account_manager_id=manager_id,
        **kwargs,
    )
    return lc.provision(company_id, new, "test").id


def breach(company_id, service_id, kind="response", severity="high", target=60) -> int:
    """A real incident that has breached exactly one SLA target (`kind`) when recorded.

    The service gets a 24x7 policy with that target at `target` minutes and the other far
    away, and the incident is opened 90 minutes ago. Returns the incident's id."""
    far = 100_000
    db.session.execute(
        update(ClientService)
        .where(ClientService.id == service_id)
        .values(
            sla_around_the_clock=True,
            sla_response_minutes=target if kind == "response" else far,
            sla_resolution_minutes=target if kind == "resolution" else far,
        )
    )
    db.session.commit()
    incident, _ = recording.record(
        company_id,
        recording.NewIncident(
            service_id, f"{kind} breach", severity, opened_at=utcnow() - dt.timedelta(minutes=90)
        ),
        "test",
    )
    return incident.id


def at_risk(company_id, service_id, kind="response") -> int:
    """An incident past the warning threshold (80%) of its target, not past the target."""
    return breach(company_id, service_id, kind, target=100)


def active_service(company_id, client_id=None, **kwargs) -> int:
    """A provisioned and activated service: the kind incidents are recorded on."""
    service_id = make_service(company_id, client_id, **kwargs)
    lc.activate(company_id, service_id, "test")
    return service_id


def make_invoice(
    company_id,
    client_id=None,
    amounts=("100.00",),
    *,
    service_id=None,
    currency="USD",
    issue_date=None,
    description="Managed Backup",
) -> int:
    """A document issued as the bill run issues them (numbered, taxed, its event recorded):
    an invoice, or a credit note when the amounts add up below zero. One monthly period line
    per amount, from the issue date, with no billing key (so a test can make any number)."""
    client_id = client_id or make_client(company_id)
    day = issue_date or utcnow().date()
    lines = [
        NewLine(
            service_id=service_id,
            kind=PERIOD,
            description=f"{description} {n + 1}",
            quantity=1,
            unit_price=Decimal(amount),
            amount=Decimal(amount),
            period_start=day,
            period_end=day + dt.timedelta(days=30),
        )
        for n, amount in enumerate(amounts)
    ]
    with unit_of_work():
        company = lock_company(company_id)
        (document_id,) = issue_documents(
            company, [NewDocument(client_id, currency, lines)], day, "test"
        )
    return document_id


def run_at_once(app, *writers, timeout=120) -> list[str]:
    """Run each writer in its own thread with its own app context and session, all at once;
    returns the errors they raised (the test asserts there were none)."""
    errors = []

    def run(fn):
        with app.app_context():
            try:
                fn()
            except Exception as exc:  # collected: the test reports every failure
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return errors


def kept_alert(company_id, host="unknown01", fingerprint="kept01") -> int:
    """An alert kept as unrouted (its host matched no asset); its id."""
    from webapp.assets import unrouted
    from webapp.incidents.recording import NewIncident
    from webapp.lifecycle.statuses import Severity

    new = NewIncident(
        service_id=0,
        title=f"Node down on {host}",
        severity=Severity.HIGH,
        source="alertmanager",
        external_key=fingerprint,
    )
    labels = {"alertname": "NodeDown", "instance": f"{host}:9100"}
    (row,) = unrouted.keep(company_id, [unrouted.Held(host, "instance", labels, new)])
    return row.id
