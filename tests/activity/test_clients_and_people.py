"""The trail names each service's client, and lists the changes that are about no service (a
client's, a person's, an import's) with a label and a sentence of their own."""

import csv
import io

import pytest
from sqlalchemy import select

from tests.activity.test_activity import rows
from tests.support.factories import make_client, make_service
from webapp.activity import queries as audit_trail
from webapp.extensions import db
from webapp.lifecycle import events as e
from webapp.lifecycle.registry import EVENT_TYPES
from webapp.lifecycle.statuses import DeliveryStatus, UserRole
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.outbox import record, unit_of_work

R = UserRole
ADMIN = "user:999 admin@msp.example"  # nobody of this company: shown as the address


def cells(html: str) -> list[list[str]]:
    return [line.split(" | ") for line in rows(html)]


def recorded(company_id, *events, actor=ADMIN) -> list[int]:
    with unit_of_work():
        ids = [record(event, company_id, actor).id for event in events]
    return ids


@pytest.fixture
def three_backups(company):
    """Three "Managed Backup" services, each of another client; the clients' ids."""
    clients = [make_client(company, name=n, email=None) for n in ("Acme", "Bayside", "Cove")]
    for client in clients:
        make_service(company, client, name="Managed Backup")
    return clients


def test_every_event_type_has_a_label():
    assert set(EVENT_TYPES) - set(audit_trail.LABELS) == set()


def test_equal_service_names_are_told_apart_by_their_client(as_role, three_backups):
    viewer = as_role(R.VIEWER)
    subjects = [line[3] for line in cells(viewer.get("/activity").get_data(as_text=True))]
    assert subjects == [
        "Managed Backup · Cove",
        "Managed Backup · Bayside",
        "Managed Backup · Acme",
    ]
    overview = viewer.get("/").get_data(as_text=True)
    recent = overview[overview.index("Recent events") :]
    for client_id, name in zip(three_backups, ("Acme", "Bayside", "Cove"), strict=True):
        assert f'<a href="/clients/{client_id}">{name}</a>' in recent


def test_changes_about_no_service_are_listed_with_a_sentence(as_role, company, three_backups):
    acme = three_backups[0]
    recorded(
        company,
        e.ClientCreated(service_id=None, client_id=acme, client_name="Acme"),
        e.ClientUpdated(
            service_id=None, client_id=acme, changes={"payment_terms_days": ["14", "30"]}
        ),
        e.ContactSaved(
            service_id=None,
            client_id=acme,
            contact_id=7,
            contact_name="Ann Lee",
            roles=["billing", "technical"],
        ),
        e.UserInvited(service_id=None, user_id=9, email="tech2@msp.example", role="technician"),
        e.ImportCommitted(
            service_id=None,
            kind="services",
            filename="services.csv",
            created=120,
            updated=3,
            unchanged=0,
        ),
        e.PasswordChanged(service_id=None, user_id=9, email="tech2@msp.example", how="invitation"),
    )
    lines = cells(as_role(R.VIEWER).get("/activity").get_data(as_text=True))
    assert [line[2:] for line in lines[:6]] == [
        ["password changed", "—", "tech2@msp.example chose a password from their invitation"],
        [
            "import committed",
            "—",
            "services from services.csv: 120 created, 3 updated, 0 unchanged",
        ],
        ["person invited", "—", "invited tech2@msp.example as technician"],
        ["contact saved", "Acme", "Ann Lee (billing, technical)"],
        ["client updated", "Acme", "payment terms days: 14 → 30"],
        ["client created", "Acme", "created Acme"],
    ]
    assert lines[0][1] == "admin@msp.example"  # no such user here: the address recorded
    # The overview's feed takes them too: no service to link, the client where there is one.
    overview = as_role(R.VIEWER).get("/").get_data(as_text=True)
    assert overview.count("<td>ClientCreated</td>") == 1
    assert "<td>UserInvited</td>" in overview


def test_the_client_filter_finds_the_clients_own_changes_too(as_role, company, three_backups):
    acme, bayside, _ = three_backups
    recorded(
        company,
        e.ClientArchived(service_id=None, client_id=bayside),
        e.ClientRestored(service_id=None, client_id=acme),
        e.UserDeactivated(service_id=None, user_id=9, email="gone@msp.example"),
    )
    viewer = as_role(R.VIEWER)
    acme_lines = cells(viewer.get(f"/activity?client={acme}").get_data(as_text=True))
    assert [line[2:4] for line in acme_lines] == [
        ["client restored", "Acme"],
        ["provisioned", "Managed Backup · Acme"],
    ]
    what = viewer.get("/activity?what=ClientArchived").get_data(as_text=True)
    assert [line[2:4] for line in cells(what)] == [["client archived", "Bayside"]]


def test_the_csv_lists_them_with_their_client(as_role, company, three_backups):
    recorded(
        company,
        e.ContactRemoved(
            service_id=None, client_id=three_backups[2], contact_id=3, contact_name="Bo"
        ),
        e.SignedOutEverywhere(service_id=None, user_id=9, email="tess@msp.example"),
    )
    response = as_role(R.VIEWER).get("/activity.csv")
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    last = {row["type"]: row for row in table[-2:]}
    assert last["ContactRemoved"]["client"] == "Cove"
    assert last["ContactRemoved"]["service"] == last["ContactRemoved"]["service_id"] == ""
    assert last["ContactRemoved"]["detail"] == "removed Bo"
    assert last["SignedOutEverywhere"]["client"] == ""
    assert last["SignedOutEverywhere"]["detail"] == "every session of tess@msp.example ended"
    only_cove = as_role(R.VIEWER).get(f"/activity.csv?client={three_backups[2]}")
    types = [r["type"] for r in csv.DictReader(io.StringIO(only_cove.get_data(as_text=True)))]
    assert types == ["ServiceProvisioned", "ContactRemoved"]


def test_a_failed_delivery_of_a_persons_event_shows_on_operations(as_role, company):
    (event_id,) = recorded(
        company, e.UserInvited(service_id=None, user_id=9, email="new@msp.example", role="viewer")
    )
    for delivery in db.session.scalars(
        select(ListenerDelivery).where(ListenerDelivery.event_id == event_id)
    ):
        delivery.status, delivery.last_error = DeliveryStatus.FAILED, "SMTP said no"
    db.session.commit()
    response = as_role(R.ADMIN).get("/operations")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "UserInvited" in html and "SMTP said no" in html


def test_details_name_people_by_name_where_the_event_gives_an_id():
    event = DomainEvent(
        type="ServiceAccountManagerChanged",
        payload={"service_id": 1, "old_manager_id": None, "new_manager_id": 4},
    )
    assert audit_trail.detail(event, {4: "Mia"}) == "nobody → Mia"
    moved = DomainEvent(type="UserRoleChanged", payload={"email": "a@x", "old_role": "viewer"})
    moved.payload["new_role"] = "account_manager"
    assert audit_trail.detail(moved) == "a@x: viewer → account manager"
    scheduled = DomainEvent(
        type="ServiceCancellationScheduled",
        payload={"effective_on": "2027-06-30", "reason": "moving to in-house IT"},
    )
    assert audit_trail.detail(scheduled) == "ends on 2027-06-30, reason: moving to in-house IT"
