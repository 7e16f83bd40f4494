"""A company with `n` of every kind of row the dashboards show, inserted in bulk.

Used to measure the pages at two sizes: the number of SQL statements a page issues, and the
plans of the queries behind it, must not depend on how many rows there are. Two thirds of the
incidents, events, alerts, pauses and health snapshots belong to one service, and of the alerts
to one incident (the ones the detail pages show), so their pages grow with `n` too.
"""

import contextlib
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import event, insert

from webapp.accounts.models import User
from webapp.billing.models import RecurringBilling
from webapp.clients.models import Client, Contact
from webapp.clock import today, utcnow
from webapp.company.models import Company
from webapp.extensions import db
from webapp.health.models import HealthBandMonth, HealthSnapshot
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import (
    BillingCycle,
    BillingStatus,
    DeliveryStatus,
    ServiceLevel,
    ServiceStatus,
    Severity,
    UserRole,
)
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.services.models import ClientService, ServicePause
from webapp.sla.models import SlaAlert

STATUSES = (
    ServiceStatus.ACTIVE,
    ServiceStatus.SUSPENDED,
    ServiceStatus.ACTIVE,
    ServiceStatus.PENDING,
    ServiceStatus.CANCELLED,
    ServiceStatus.EXPIRED,
)


CYCLES = (BillingCycle.MONTHLY, BillingCycle.ANNUAL, BillingCycle.QUARTERLY)

LEVELS = tuple(ServiceLevel)

SEVERITIES = tuple(Severity)

DELIVERY_STATES = (DeliveryStatus.DONE, DeliveryStatus.FAILED, DeliveryStatus.PENDING)

ALERT_KINDS = ("response", "resolution", "at_risk", "health")


@dataclass(frozen=True)
class Dataset:
    company_id: int
    admin_email: str
    service_id: int  # the service with half of everything
    incident_id: int  # the incident with half of the alerts
    client_id: int


def _ids(model, rows) -> list[int]:
    """INSERT the rows in one statement (batched by the dialect), returning their ids in order."""
    return list(
        db.session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
    )


def build(n: int) -> Dataset:
    now, on = utcnow(), today()
    company = Company(name="Big MSP", timezone="Europe/Berlin")
    db.session.add(company)
    db.session.commit()
    cid = company.id
    admin_email = "admin@big.example"
    from tests.support.sessions import add_user

    add_user(cid, UserRole.ADMIN, admin_email)

    users = _ids(
        User,
        [
            dict(company_id=cid, email=f"tech{i}@big.example", name=f"Tech {i}", role="technician")
            for i in range(n)
        ],
    )
    clients = _ids(
        Client,
        [dict(company_id=cid, name=f"Client {i:05}") for i in range(n)],
    )
    _ids(
        Contact,
        [
            dict(
                company_id=cid,
                client_id=client_id,
                name="Office Manager",
                email=f"it{i}@client.example",
                is_primary=True,
                is_billing=True,
                is_technical=False,
            )
            for i, client_id in enumerate(clients)
        ],
    )
    services = []
    for i in range(n):
        status = STATUSES[i % len(STATUSES)]
        running = status in (ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)
        services.append(
            dict(
                company_id=cid,
                client_id=clients[i % len(clients)],
                account_manager_id=users[i % len(users)],
                name=f"Managed Backup {i:05}",
                service_type="backup",
                status=status,
                billing_cycle=CYCLES[i % len(CYCLES)],
                price=Decimal("100.00") + i,
                currency=("USD", "EUR")[i % 2],
                setup_fee=Decimal(0),
                start_date=on - dt.timedelta(days=300),
                term_months=12,
                # Running services' terms end soon: every one is on the renewals page.
                term_end=on + dt.timedelta(days=i % 25) if running else on - dt.timedelta(days=5),
                auto_renew=i % 2 == 0,
                service_level=LEVELS[i % len(LEVELS)],
                activated_at=None if status == ServiceStatus.PENDING else now,
                suspended_at=now if status == ServiceStatus.SUSPENDED else None,
                suspended_since=now if status == ServiceStatus.SUSPENDED else None,
                health_score=None if i % 7 == 3 else (i * 37) % 101,
                health_factors=[{"label": "SLA breaches in 90 days", "points": -10}],
                health_updated_at=now,
                sla_response_minutes=60 if i % 3 == 0 else None,
                version=1,
            )
        )
    service_ids = _ids(ClientService, services)
    target = service_ids[0]  # active

    def owner(i):
        """Two thirds of the child rows on the target service (more than selectinload's batch
        of 500 at the large size), the rest spread over the others."""
        return target if i % 3 != 2 else service_ids[i % len(service_ids)]

    _ids(
        RecurringBilling,
        [
            dict(
                company_id=cid,
                service_id=sid,
                status=(BillingStatus.ACTIVE, BillingStatus.PAUSED, BillingStatus.STOPPED)[i % 3],
                amount=row["price"],
                currency=row["currency"],
                cycle=row["billing_cycle"],
                next_bill_date=on + dt.timedelta(days=10),
                term_end=row["term_end"],
                service_version=1,
            )
            for i, (sid, row) in enumerate(zip(service_ids, services, strict=True))
            if row["status"] != ServiceStatus.PENDING
        ],
    )
    events = _ids(
        DomainEvent,
        [
            dict(
                company_id=cid,
                type=("ServiceSuspended", "ServiceActivated", "SlaBreached")[i % 3],
                service_id=owner(i),
                payload={"reason": "unpaid"} if i % 3 == 0 else {},
                actor="test",
                occurred_at=now - dt.timedelta(minutes=i),
                enqueued_at=now if i % 4 else None,
            )
            for i in range(n)
        ],
    )
    _ids(
        ListenerDelivery,
        [
            dict(
                company_id=cid,
                event_id=event_id,
                listener=listener,
                queue="default",
                status=DELIVERY_STATES[(i + j) % len(DELIVERY_STATES)],
                attempts=1,
                last_error="boom"
                if DELIVERY_STATES[(i + j) % 3] == DeliveryStatus.FAILED
                else None,
                finished_at=now,
            )
            for i, event_id in enumerate(events)
            for j, listener in enumerate(("billing", "notify_client"))
        ],
    )
    incidents = []
    for i in range(n):
        opened = now - dt.timedelta(minutes=30 + i)
        resolved = i % 3 == 2
        incidents.append(
            dict(
                company_id=cid,
                service_id=owner(i),
                title=f"Backup failed {i}",
                severity=SEVERITIES[i % len(SEVERITIES)],
                source="ui",
                opened_at=opened,
                recorded_by="test",
                assignee_id=users[i % len(users)] if i % 4 else None,
                acknowledged_at=opened + dt.timedelta(minutes=5) if i % 3 else None,
                acknowledged_by="user:1 tech@big.example" if i % 3 else None,
                resolved_at=opened + dt.timedelta(minutes=20) if resolved else None,
                resolved_by="test" if resolved else None,
                response_breached_at=opened + dt.timedelta(minutes=15) if i % 5 == 0 else None,
                resolution_breached_at=opened + dt.timedelta(minutes=25) if i % 7 == 0 else None,
                next_check_at=None if resolved else now + dt.timedelta(minutes=i % 60),
            )
        )
    incident_ids = _ids(Incident, incidents)
    target_incident = incident_ids[0]
    _ids(
        SlaAlert,
        [
            dict(
                company_id=cid,
                event_id=event_id,
                service_id=owner(i),
                incident_id=target_incident if i % 3 != 2 else incident_ids[i],
                kind=ALERT_KINDS[i % len(ALERT_KINDS)],
                message=f"Alert {i}",
                created_at=now - dt.timedelta(minutes=i),
                acknowledged_at=now if i % 2 else None,
                acknowledged_by_id=users[i % len(users)] if i % 2 else None,
                escalated_at=now if i % 5 == 0 else None,
            )
            for i, event_id in enumerate(events)
        ],
    )
    _ids(
        HealthSnapshot,
        [
            dict(
                company_id=cid,
                service_id=owner(i),
                score=(i * 13) % 101,
                factors=[],
                computed_at=now - dt.timedelta(hours=i),
            )
            for i in range(n)
        ],
    )
    # Three past months of health bands per client, as the nightly run leaves them.
    month = on.replace(day=1)
    _ids(
        HealthBandMonth,
        [
            dict(
                company_id=cid,
                month=(month - dt.timedelta(days=28 * back)).replace(day=1),
                client_id=client_id,
                healthy=i % 5,
                fair=i % 3,
                poor=i % 2,
                critical=1,
                unscored=0,
            )
            for back in (1, 2, 3)
            for i, client_id in enumerate(clients)
        ],
    )
    _ids(
        ServicePause,
        [
            dict(
                company_id=cid,
                service_id=owner(i),
                started_at=now - dt.timedelta(days=2, minutes=i),
                ended_at=now - dt.timedelta(days=1, minutes=i),
            )
            for i in range(n)
        ],
    )
    db.session.commit()
    return Dataset(cid, admin_email, target, target_incident, clients[0])


# (name, url, HX-Target or None); {service}, {incident} and {client} are the dataset's.
PAGES = [
    ("overview", "/", None),
    ("overview panels", "/", "overview_panels"),
    ("services", "/services", None),
    ("services table", "/services", "services_table"),
    ("services page 2", "/services?page=2", "services_table"),
    ("services by client desc", "/services?sort=client&desc=1", "services_table"),
    ("services by health", "/services?sort=health&health=poor", "services_table"),
    ("services by term end", "/services?sort=term_end&status=active", "services_table"),
    ("services by price", "/services?sort=price&desc=1&status=suspended", "services_table"),
    ("services searched", "/services?q=Client+0&sort=status", "services_table"),
    ("services of a client", "/services?client={client}", "services_table"),
    ("services mine", "/services?manager=me&sort=price", "services_table"),
    ("clients", "/clients", None),
    ("clients table", "/clients?page=2", "clients_table"),
    ("clients by mrr", "/clients?sort=mrr&desc=1", "clients_table"),
    ("clients by health", "/clients?sort=health&archived=1", "clients_table"),
    ("clients by incidents", "/clients?sort=incidents&desc=1&q=Client", "clients_table"),
    ("clients by term end", "/clients?sort=term_end", "clients_table"),
    ("client", "/clients/{client}", None),
    ("client live", "/clients/{client}", "client_live"),
    ("client contacts", "/clients/{client}", "client_contacts"),
    ("service", "/services/{service}", None),
    ("service main", "/services/{service}", "service_main"),
    ("service live", "/services/{service}", "service_live"),
    ("service sla", "/services/{service}", "service_sla"),
    ("service activity", "/services/{service}", "service_activity"),
    ("incidents", "/incidents", None),
    ("incidents table", "/incidents", "incidents_table"),
    ("incidents resolved", "/incidents?state=resolved", "incidents_table"),
    ("incidents all", "/incidents?state=all", "incidents_table"),
    ("incidents critical", "/incidents?state=all&severity=critical&q=Backup", "incidents_table"),
    ("incidents of a service", "/incidents?service={service}&state=all", None),
    ("incident", "/incidents/{incident}", None),
    ("incident main", "/incidents/{incident}", "incident_main"),
    ("record incident", "/incidents/new", None),
    ("renewals", "/renewals", None),
    ("renewals table", "/renewals?days=30", "renewals_table"),
    ("renewals 180 days", "/renewals?days=180", "renewals_table"),
    ("alerts", "/alerts", None),
    ("alerts table", "/alerts", "alerts_table"),
    ("alerts acknowledged", "/alerts?state=acknowledged", "alerts_table"),
    ("alerts all health", "/alerts?state=all&kind=health", "alerts_table"),
    ("alerts page 2", "/alerts?state=all&page=2", "alerts_table"),
    ("operations", "/operations", None),
    ("operations panel", "/operations", "operations_panel"),
    ("settings", "/settings", None),
    ("settings form", "/settings", "settings_form"),
    ("live", "/live", None),
    ("live unchanged", "/live?stamp={stamp}", None),
    ("mailbox", "/mailbox", None),
    ("mailbox list", "/mailbox", "mailbox_list"),
    ("activity", "/activity", None),
    ("activity of a client", "/activity?client={client}", "activity_table"),
    ("services csv", "/services.csv?status=active", None),
    ("incidents csv", "/incidents.csv?state=all&client={client}", None),
    ("activity csv", "/activity.csv?from=2000-01-01", None),
]


@contextlib.contextmanager
def pages_app(database_url, redis_url, tmp_path_factory):
    """An app (in its context) whose pages include /mailbox; its data is deleted afterwards."""
    from tests.support.app import FreshContextClient, _empty_tables, make_config
    from webapp import create_app
    from webapp.pipeline.queues import redis_connection

    mailbox = tmp_path_factory.mktemp("maildir")
    for sub in ("cur", "new", "tmp"):
        (mailbox / sub).mkdir()
    app = create_app(make_config(database_url, redis_url, MAILBOX_DIR=str(mailbox)))
    app.test_client_class = FreshContextClient
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            _empty_tables()
            redis_connection().flushdb()
            db.engine.dispose()


@contextlib.contextmanager
def counting(engine):
    """Collects (statement, parameters) of every statement the engine sends meanwhile."""
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def visit(app, data: Dataset) -> dict[str, list[tuple[str, object]]]:
    """Each page of PAGES requested by a signed-in admin: once to warm up, then once with
    its statements collected (only those inside the request)."""
    from tests.support.sessions import Session
    from webapp.overview.queries import change_stamp

    session = Session(app.test_client(), data.admin_email)
    ids = {
        "service": data.service_id,
        "incident": data.incident_id,
        "client": data.client_id,
        "stamp": change_stamp(data.company_id),
    }
    seen = {}
    for name, url, target in PAGES:
        url = url.format(**ids)

        def get(url=url, target=target):
            return session.htmx_get(url, target) if target else session.get(url)

        assert get().status_code in (200, 204), name
        with counting(db.engine) as statements:
            response = get()
            response.get_data()  # a streamed export reads its rows only now
        assert response.status_code in (200, 204), name
        seen[name] = statements
    return seen
