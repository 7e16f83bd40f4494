"""The commit: all or nothing, idempotent, scoped to the company, and services that enter their
status through the domain (billing from their next bill date, revenue, the trail, no mail)."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.imports.conftest import TODAY
from tests.imports.files import csv_bytes, service_row, services_csv
from tests.support.factories import make_client, make_service, make_user
from webapp.billing.models import BillingAdjustment, RecurringBilling, RevenueMovement
from webapp.billing.queries import mrr_by_currency
from webapp.clients.models import Client, Contact
from webapp.extensions import db
from webapp.imports import committing
from webapp.imports.committing import ImportRefused, commit_import
from webapp.imports.planning import Outcome, plan_import
from webapp.lifecycle.statuses import BillingStatus, ServiceStatus, UserRole
from webapp.notifications.models import Notification
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.reports.at_risk import revenue_at_risk
from webapp.reports.revenue import mrr_on
from webapp.services import actions as lc
from webapp.services.models import ClientService, ServicePause

CLIENTS = csv_bytes(
    ["Name", "External ID", "Address", "City", "Payment Terms (days)", "Tax Rate (%)", "Notes"],
    [
        ["Acme Dental", "ACME-001", "1 High Street", "Springfield", "30", "20", ""],
        ["Bravo Legal", "BRAVO-002", "", "", "", "", "Key account"],
    ],
)

CONTACTS = csv_bytes(
    ["Client External ID", "Name", "Email", "Phone", "Roles", "External ID"],
    [
        ["ACME-001", "Jane Doe", "jane@acme.example", "+1 555 0100", "primary;billing", "C-1"],
        ["BRAVO-002", "Bob Tech", "bob@bravo.example", "", "technical", "C-2"],
    ],
)


def _services():
    return services_csv(
        service_row(
            name="Microsoft 365",
            Price="12.50",
            Quantity="5",
            **{"Start Date": "2026-06-01", "Next Bill Date": "2027-03-31", "External ID": "S-1"},
        ),
        service_row(
            client="Bravo Legal",
            name="Firewall",
            Status="suspended",
            Price="80.00",
            **{"Billing Cycle": "quarterly", "External ID": "S-2", "Next Bill Date": "2027-04-01"},
        ),
        service_row(
            client="Bravo Legal", name="Backup", Status="pending", **{"External ID": "S-3"}
        ),
    )


def counts() -> dict[str, int]:
    db.session.rollback()
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (
            Client,
            Contact,
            ClientService,
            DomainEvent,
            ListenerDelivery,
            RevenueMovement,
            RecurringBilling,
            ServicePause,
        )
    }


@pytest.fixture
def imported(company, acme, work):
    """Clients, then contacts, then services imported as a new MSP does on day one."""
    for kind, raw in (("clients", CLIENTS), ("contacts", CONTACTS), ("services", _services())):
        commit_import(company, kind, raw, f"{kind}.csv", "user:1 admin@msp.example")
    work()
    return {s.external_id: s.id for s in db.session.scalars(select(ClientService))}


def test_a_bad_row_9000_commits_nothing(company, acme):
    rows = [service_row(name=f"Seat pack {n}", **{"External ID": f"S-{n}"}) for n in range(9_000)]
    rows[8_998] = service_row(name="Broken", Price="twelve")  # row 9,000 of the spreadsheet
    raw = services_csv(*rows)
    before = counts()
    with pytest.raises(ImportRefused) as refused:
        commit_import(company, "services", raw, "big.csv", "test")
    assert str(refused.value) == "1 row with errors: nothing was imported."
    (bad,) = [r for r in refused.value.plan.rows if r.outcome == Outcome.ERROR]
    assert bad.messages() == ["row 9000, Price: 'twelve' is not an amount (write it as 149.00)."]
    assert counts() == before


def test_importing_the_same_files_again_changes_nothing(company, imported, work):
    before = counts()
    assert before["client_services"] == 3 and before["contacts"] == 3  # acme's own + 2
    for kind, raw in (("clients", CLIENTS), ("contacts", CONTACTS), ("services", _services())):
        plan = plan_import(company, kind, raw, f"{kind}.csv")
        assert {r.outcome for r in plan.rows} == {Outcome.UNCHANGED}, [r.reason for r in plan.rows]
        again = commit_import(company, kind, raw, f"{kind}.csv", "test")
        assert again.to_write == 0
    assert counts() == before
    assert work() == 0


def test_each_commit_records_its_counts_in_one_import_committed_event(company, imported):
    events = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ImportCommitted").order_by(DomainEvent.id)
    ).all()
    assert [(e.service_id, e.payload) for e in events] == [
        (None, {"service_id": None, "kind": "clients", "filename": "clients.csv", "created": 1, "updated": 1, "unchanged": 0}),
        (None, {"service_id": None, "kind": "contacts", "filename": "contacts.csv", "created": 2, "updated": 0, "unchanged": 0}),
        (None, {"service_id": None, "kind": "services", "filename": "services.csv", "created": 3, "updated": 0, "unchanged": 0}),
    ]  # fmt: skip
    acme = db.session.scalars(select(Client).filter_by(external_id="ACME-001")).one()
    assert (acme.address, acme.payment_terms_days, acme.tax_rate) == (
        "1 High Street, Springfield",
        30,
        Decimal("20.00"),
    )
    jane = db.session.scalars(select(Contact).filter_by(external_id="C-1")).one()
    assert (jane.client_id, jane.roles, jane.phone) == (
        acme.id,
        ["primary", "billing"],
        "+1 555 0100",
    )
    types = db.session.scalars(select(DomainEvent.type).order_by(DomainEvent.id)).all()
    assert types.count("ClientCreated") == 1 and types.count("ClientUpdated") == 1
    assert types.count("ContactSaved") == 2 and types.count("ServiceImported") == 3


def test_an_imported_active_service_bills_from_its_next_bill_date_with_no_mail(
    company, imported, as_role
):
    service = db.session.get(ClientService, imported["S-1"])
    assert (service.status, service.price, service.quantity) == (
        ServiceStatus.ACTIVE,
        Decimal("12.50"),
        5,
    )
    assert service.start_date == dt.date(2026, 6, 1)
    assert service.term_end == dt.date(2027, 6, 1)
    assert service.activated_at.date() == dt.date(2026, 6, 1)
    billing = service.billing
    assert (billing.status, billing.amount, billing.next_bill_date, billing.term_end) == (
        BillingStatus.ACTIVE,
        Decimal("62.50"),  # 5 x 12.50
        dt.date(2027, 3, 31),
        dt.date(2027, 6, 1),
    )
    movement = db.session.scalars(
        select(RevenueMovement).where(RevenueMovement.service_id == service.id)
    ).one()
    assert (movement.kind, movement.amount, movement.services, movement.effective_on) == (
        "new",
        Decimal("62.50"),
        1,
        dt.date(2026, 6, 1),
    )
    event = db.session.scalars(
        select(DomainEvent).where(DomainEvent.service_id == service.id)
    ).one()
    assert event.type == "ServiceImported"
    assert event.payload["next_bill_date"] == "2027-03-31"
    assert [
        d.listener
        for d in db.session.scalars(select(ListenerDelivery).filter_by(event_id=event.id))
    ] == ["billing.imported"]
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    trail = as_role(UserRole.VIEWER).get("/activity").get_data(as_text=True)
    assert "imported" in trail
    assert "active, 5 × 12.50 USD monthly, next bill 2027-03-31" in trail


def test_an_imported_suspended_service_is_paused_from_now_and_resumes_its_billing_later(
    company, imported, clock, work
):
    firewall = db.session.get(ClientService, imported["S-2"])
    firewall_id = firewall.id
    assert firewall.suspended_since == dt.datetime(2027, 3, 10, 9)
    assert firewall.billing.status == BillingStatus.PAUSED
    assert firewall.billing.next_bill_date == dt.date(2027, 4, 1)
    assert db.session.scalars(select(ServicePause).filter_by(service_id=firewall.id)).one()
    movement = db.session.scalars(select(RevenueMovement).filter_by(service_id=firewall.id)).one()
    assert (movement.kind, movement.amount, movement.services) == ("new", Decimal("0.00"), 1)

    clock.move_to(dt.datetime(2027, 3, 20, 9, tzinfo=dt.UTC))
    lc.resume(company, firewall_id, "test")
    work()
    billing = db.session.get(ClientService, firewall_id).billing
    # The ten days it stayed suspended here are not billed: its next bill moves on by them.
    assert (billing.status, billing.next_bill_date) == (BillingStatus.ACTIVE, dt.date(2027, 4, 11))


def test_an_imported_pending_service_waits_for_its_activation(company, imported, work):
    backup = db.session.get(ClientService, imported["S-3"])
    assert backup.billing is None and backup.activated_at is None
    ledger = select(func.count()).select_from(RevenueMovement).filter_by(service_id=backup.id)
    assert db.session.scalar(ledger) == 0
    lc.activate(company, imported["S-3"], "test")
    work()
    billing = db.session.get(ClientService, imported["S-3"]).billing
    assert billing.next_bill_date == TODAY + dt.timedelta(days=31)  # one cycle after activation


def test_quantity_times_price_is_what_mrr_counts(company, imported):
    assert mrr_by_currency(company) == {"USD": Decimal("62.50")}
    assert mrr_on(company, TODAY) == {"USD": Decimal("62.50")}
    # Its term ends within 90 days without auto-renew: the whole 5 x 12.50 is at risk.
    risk = revenue_at_risk(company, today=TODAY)
    assert [(r.service_name, r.mrr) for r in risk.rows] == [("Microsoft 365", Decimal("62.50"))]


def test_a_price_change_on_an_imported_service_bills_its_seats_at_the_new_price(
    company, imported, clock, work
):
    clock.move_to(dt.datetime(2027, 3, 21, 9, tzinfo=dt.UTC))
    lc.change_price(company, imported["S-1"], "test", Decimal("14.50"))
    work()
    # The rest of its period is the invoicing's to settle, from the event (which says how
    # many seats the new price is for): billing records no adjustment of its own.
    assert db.session.scalars(select(BillingAdjustment)).all() == []
    payload = db.session.scalars(
        select(DomainEvent.payload).where(DomainEvent.type == "ServicePriceChanged")
    ).one()
    assert (payload["new_price"], payload["quantity"]) == ("14.50", 5)
    assert db.session.get(ClientService, imported["S-1"]).billing.amount == Decimal("72.50")


def test_a_service_update_changes_name_and_manager_and_records_who(company, imported, clock):
    manager = make_user(company, "Pat@msp.example", UserRole.ACCOUNT_MANAGER)
    raw = services_csv(
        service_row(
            name="Microsoft 365 Business",
            Price="12.50",
            Quantity="5",
            **{
                "Start Date": "2026-06-01",
                "External ID": "S-1",
                "Account Manager Email": "pat@msp.example",
                "Auto Renew": "yes",
            },
        )
    )
    (row,) = plan_import(company, "services", raw, "s.csv").rows
    assert row.outcome == Outcome.UPDATE
    assert row.changes == {
        "Name": ["Microsoft 365", "Microsoft 365 Business"],
        "Account Manager Email": [None, "Pat@msp.example"],
    }
    assert row.notes == ["Auto Renew differ: set when a service starts, not by an import"]
    version = db.session.get(ClientService, imported["S-1"]).version
    commit_import(company, "services", raw, "s.csv", "test")
    service = db.session.get(ClientService, imported["S-1"])
    assert (service.name, service.account_manager_id, service.auto_renew) == (
        "Microsoft 365 Business",
        manager,
        False,
    )
    assert service.version == version + 1
    changed = db.session.scalars(
        select(DomainEvent).where(DomainEvent.type == "ServiceAccountManagerChanged")
    ).one()
    assert (changed.service_id, changed.payload["new_manager_id"]) == (service.id, manager)


def test_a_service_named_like_a_row_is_linked_to_its_external_id_once(company, acme):
    existing = make_service(company, acme, name="Managed Backup", price="12.50")
    lc.activate(company, existing, "test")
    raw = services_csv(
        service_row(
            **{
                "External ID": "S-9",
                "Start Date": db.session.get(ClientService, existing).start_date.isoformat(),
            }
        )
    )
    (row,) = plan_import(company, "services", raw, "s.csv").rows
    assert (row.outcome, row.target_id, row.changes) == (
        Outcome.UPDATE,
        existing,
        {"External ID": [None, "S-9"]},
    )
    commit_import(company, "services", raw, "s.csv", "test")
    assert db.session.get(ClientService, existing).external_id == "S-9"
    assert plan_import(company, "services", raw, "s.csv").rows[0].outcome == Outcome.UNCHANGED


def test_another_companys_client_and_service_are_never_matched(company, other_company, clock, work):
    theirs = make_client(other_company, "Acme Dental")
    db.session.get(Client, theirs).external_id = "ACME-001"
    db.session.commit()
    their_service = make_service(other_company, theirs, name="Microsoft 365", price="12.50")
    db.session.get(ClientService, their_service).external_id = "S-1"
    db.session.commit()
    their_state = (
        db.session.get(Client, theirs).name,
        db.session.get(ClientService, their_service).version,
    )

    plan = plan_import(company, "clients", CLIENTS, "clients.csv")
    assert [r.outcome for r in plan.rows] == [Outcome.CREATE, Outcome.CREATE]
    commit_import(company, "clients", CLIENTS, "clients.csv", "test")
    commit_import(company, "contacts", CONTACTS, "contacts.csv", "test")
    plan = commit_import(company, "services", _services(), "services.csv", "test")
    assert plan.counts["create"] == 3

    ours = db.session.scalars(
        select(ClientService).filter_by(external_id="S-1", company_id=company)
    ).one()
    assert ours.id != their_service
    assert ours.client.company_id == company
    db.session.rollback()
    assert (
        db.session.get(Client, theirs).name,
        db.session.get(ClientService, their_service).version,
    ) == their_state
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(DomainEvent)
            .where(DomainEvent.company_id == other_company)
        )
        == 1
    )  # their own provisioning, nothing of ours


def test_a_commit_refuses_a_plan_that_changed_since_the_dry_run(company, acme):
    raw = csv_bytes(["Name"], [["Bravo Legal"]])
    seen = plan_import(company, "clients", raw, "c.csv")
    assert [r.outcome for r in seen.rows] == [Outcome.CREATE]
    make_client(company, "Bravo Legal")  # someone else, meanwhile
    before = counts()
    with pytest.raises(ImportRefused) as refused:
        commit_import(company, "clients", raw, "c.csv", "test", expected_digest=seen.digest)
    assert "The records changed since the dry run" in str(refused.value)
    assert [r.outcome for r in refused.value.plan.rows] == [Outcome.UNCHANGED]
    assert counts() == before


def test_two_commits_of_one_file_at_once_create_its_rows_once(app, company, acme, monkeypatch):
    """`flask import --commit` twice at once (or with the web's commit): the second plans after
    the first wrote, so the rows it matches by name are unchanged, not created again. Without
    the company lock PostgreSQL would let both plan "create" before either wrote."""
    raw = services_csv(service_row(), service_row(name="Monitoring"))
    real_plan = committing.plan_import

    def slow_plan(*args):
        plan = real_plan(*args)
        time.sleep(0.3)  # the other commit plans meanwhile, unless it waits for the lock
        return plan

    monkeypatch.setattr(committing, "plan_import", slow_plan)
    barrier, created = threading.Barrier(2), []

    def commit():
        with app.app_context():
            barrier.wait()
            try:
                created.append(commit_import(company, "services", raw, "s.csv", "test").counts)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted((c["create"], c["unchanged"]) for c in created) == [(0, 2), (2, 0)]
    assert counts()["client_services"] == 2
    imports = select(func.count()).where(DomainEvent.type == "ImportCommitted")
    assert db.session.scalar(imports) == 1
