"""Seats that follow devices, through the domain and the bill run (DESIGN.md, "Invoicing")."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.invoices.test_bill_run import D, at, bill, lines
from tests.support.factories import make_client, make_service
from tests.support.meeting import Meeting
from webapp.assets import actions as assets
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _asset(company_id, client_id, name):
    return assets.create_asset(
        company_id,
        assets.AssetFields(client_id, name, identifiers=(("hostname", name),)),
        "test",
    ).id


def _quantity(service_id):
    db.session.expire_all()
    return db.session.get(ClientService, service_id).quantity


def _changes(service_id):
    return [
        (e.payload["old_quantity"], e.payload["new_quantity"])
        for e in db.session.scalars(
            select(DomainEvent)
            .where(
                DomainEvent.service_id == service_id, DomainEvent.type == "ServiceQuantityChanged"
            )
            .order_by(DomainEvent.id)
        )
    ]


def test_adding_and_retiring_assets_in_a_period_bills_the_seats_and_their_adjustments(company):
    client = make_client(company)
    with at(D(2026, 3, 1)):
        service = make_service(company, client, price="31.00")
        first, second = (_asset(company, client, n) for n in ("web1", "web2"))
        for asset in (first, second):
            assets.cover(company, service, asset, "test")
        assets.set_quantity_follows_assets(company, service, True, "test")
        lc.activate(company, service, "test")
    assert _quantity(service) == 2
    bill(company, D(2026, 3, 1))

    with at(D(2026, 3, 11)):  # 21 of March's 31 days left
        third = _asset(company, client, "web3")
        assets.cover(company, service, third, "test")
    assert _quantity(service) == 3
    with at(D(2026, 3, 21)):  # 11 days left
        assets.retire_asset(company, first, "test")
    assert _quantity(service) == 2
    bill(company, D(2026, 3, 21))
    with at(D(2026, 3, 25)):
        assets.reactivate_asset(company, first, "test")  # back from the 25th: 7 days
        assets.uncover(company, service, second, "test")  # and another gone the same day
    assert _quantity(service) == 2
    bill(company, D(2026, 4, 1))

    got = [(x.kind, x.amount) for x in lines(service)]
    assert got == [
        ("period", Decimal("62.00")),  # 2 seats x 31.00
        ("adjustment", Decimal("21.00")),  # +1 seat x 31.00 x 21/31
        ("adjustment", Decimal("-11.00")),  # -1 seat x 31.00 x 11/31
        ("period", Decimal("62.00")),  # April at the 2 seats in force on its first day
        # The 25th's +1 and -1 are one change of that day, from 2 seats to 2: no line.
    ]
    assert _changes(service) == [(1, 2), (2, 3), (3, 2), (2, 3), (3, 2)]


def test_a_service_not_following_its_assets_keeps_its_seats(company):
    client = make_client(company)
    service = make_service(company, client)
    lc.activate(company, service, "test")
    assets.cover(company, service, _asset(company, client, "pc1"), "test")
    assets.cover(company, service, _asset(company, client, "pc2"), "test")
    assert _quantity(service) == 1
    assert _changes(service) == []
    # Turned on, the count sets the seats at once; turned off, they stay where they are.
    assets.set_quantity_follows_assets(company, service, True, "test")
    assert _quantity(service) == 2
    assets.set_quantity_follows_assets(company, service, False, "test")
    assert _quantity(service) == 2
    assert _changes(service) == [(1, 2)]


def test_following_seats_never_go_below_one_and_refuse_a_change_by_hand(company):
    client = make_client(company)
    service = make_service(company, client)
    lc.activate(company, service, "test")
    pc = _asset(company, client, "pc1")
    assets.cover(company, service, pc, "test")
    assets.set_quantity_follows_assets(company, service, True, "test")
    assets.cover(company, service, _asset(company, client, "pc2"), "test")
    assert _quantity(service) == 2
    for asset in db.session.scalars(select(assets.Asset.id)).all():
        assets.retire_asset(company, asset, "test")
    assert _quantity(service) == 1  # a service bills a seat; cancel it to stop
    with pytest.raises(lc.QuantityRefused, match="follow the active assets"):
        lc.change_quantity(company, service, "test", 5)
    assert _quantity(service) == 1


def _following(company, client, asset):
    service = make_service(company, client)
    lc.activate(company, service, "test")
    assets.cover(company, service, asset, "test")
    assets.set_quantity_follows_assets(company, service, True, "test")
    return service


def test_retiring_an_asset_while_another_service_starts_covering_it_counts_both(
    app, company, monkeypatch
):
    client = make_client(company)
    x, y = _asset(company, client, "x"), _asset(company, client, "y")
    a, b = _following(company, client, x), _following(company, client, y)
    db.session.rollback()

    # The cover waits before it commits; the retirement starts meanwhile and reads the services
    # that cover x (a only, so far) before it waits for x.
    meeting = Meeting(monkeypatch, assets, "sync_seats")
    meeting.notice(assets, "_covering_ids")
    errors = meeting.run(
        app,
        lambda: assets.cover(company, b, x, "test"),
        lambda: assets.retire_asset(company, x, "test"),
    )
    assert errors == []

    # x is retired: b counts y alone again, and a (nothing active left) keeps its one seat.
    assert (_quantity(a), _quantity(b)) == (1, 1)
    assert _changes(b) == [(1, 2), (2, 1)]
