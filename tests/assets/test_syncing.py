"""The bulk upsert an RMM's nightly sync uses: by RMM id, idempotent, errors per item, one
seat change per service for the whole list."""

import datetime as dt

from sqlalchemy import func, select

from tests.support.factories import make_client, make_service
from webapp.assets import actions
from webapp.assets.models import Asset, AssetIdentifier
from webapp.assets.syncing import SyncedAsset, upsert_assets
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _events(kind):
    return db.session.scalar(
        select(func.count()).select_from(DomainEvent).where(DomainEvent.type == kind)
    )


def test_a_sync_creates_then_changes_nothing_when_sent_again(company):
    client = make_client(company)
    service = make_service(company, client)
    lc.activate(company, service, "test")
    actions.set_quantity_follows_assets(company, service, True, "test")
    items = [
        SyncedAsset(
            f"RMM-{n}",
            client,
            f"pc{n}",
            "workstation",
            identifiers=(("hostname", f"PC{n}"),),
            service_ids=(service,),
            last_seen_at=dt.datetime(2026, 3, 1, 8),
        )
        for n in range(5)
    ]
    results = upsert_assets(company, items, "api:rmm")
    assert [r.result for r in results] == ["created"] * 5
    assert db.session.get(ClientService, service).quantity == 5
    assert _events("ServiceQuantityChanged") == 1  # five devices, one seat change
    before = db.session.scalar(select(func.count()).select_from(DomainEvent))

    again = upsert_assets(company, items, "api:rmm")
    assert [r.result for r in again] == ["unchanged"] * 5
    assert [r.asset_id for r in again] == [r.asset_id for r in results]
    assert db.session.scalar(select(func.count()).select_from(DomainEvent)) == before

    # Retired by the RMM: the seats follow, once for the list.
    gone = [
        SyncedAsset(i.rmm_id, client, i.name, "workstation", status="retired") for i in items[:2]
    ]
    assert [r.result for r in upsert_assets(company, gone, "api:rmm")] == ["updated"] * 2
    db.session.expire_all()
    assert db.session.get(ClientService, service).quantity == 3
    assert _events("ServiceQuantityChanged") == 2
    # Identifiers sent are added; those the asset had stay (a learned host is kept).
    asset = db.session.get(Asset, results[2].asset_id)
    assert {i.value for i in asset.identifiers} == {"rmm-2", "pc2"}


def test_bad_items_are_refused_alone_with_their_fields(company, other_company):
    client = make_client(company)
    theirs = make_client(other_company, name="Theirs", email=None)
    actions.create_asset(
        company, actions.AssetFields(client, "db", identifiers=(("hostname", "db1"),)), "test"
    )
    results = upsert_assets(
        company,
        [
            SyncedAsset("1", client, "ok"),
            SyncedAsset("2", theirs, "wrong client"),
            SyncedAsset("3", client, "taken", identifiers=(("hostname", "DB1"),)),
            SyncedAsset("1", client, "twice"),
            SyncedAsset("", client, "no id", kind="toaster"),
        ],
        "api:rmm",
    )
    assert [r.result for r in results] == ["created", "refused", "refused", "refused", "refused"]
    assert [f for f, _ in results[1].errors] == ["client_id"]
    assert results[2].errors == (("identifiers", "db1 already names another asset"),)
    assert [f for f, _ in results[3].errors] == ["rmm_id"]
    assert [f for f, _ in results[4].errors] == ["rmm_id", "kind"]
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 2


def test_another_companys_rmm_id_is_another_asset(company, other_company):
    mine, theirs = make_client(company), make_client(other_company, name="T", email=None)
    (a,) = upsert_assets(other_company, [SyncedAsset("R1", theirs, "theirs")], "api:x")
    (b,) = upsert_assets(company, [SyncedAsset("R1", mine, "mine")], "api:y")
    assert a.result == b.result == "created" and a.asset_id != b.asset_id
    assert db.session.scalar(select(func.count()).select_from(AssetIdentifier)) == 2
