"""PUT /api/v1/assets: an RMM's nightly sync, by RMM id, idempotent, each item on its own."""

import contextlib
import json
import threading

from sqlalchemy import func, select

from tests.api.test_api import API, assert_error, auth
from tests.support.factories import active_service, make_client, run_at_once
from tests.support.meeting import Meeting
from webapp.accounts import api_tokens
from webapp.assets import actions, syncing
from webapp.assets.models import Asset, AssetIdentifier, ServiceCoverage
from webapp.extensions import db
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService


def put(client, body, token, **kw):
    return client.put(f"{API}/assets", json=body, headers=auth(token), **kw)


def device(client_id, rmm_id="dev-1", **extra):
    return {
        "rmm_id": rmm_id,
        "client_id": client_id,
        "name": f"Server {rmm_id}",
        "type": "server",
        "identifiers": [{"kind": "hostname", "value": f"{rmm_id}.acme.local"}],
        **extra,
    }


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def client_of(service_id) -> int:
    return db.session.get(ClientService, service_id).client_id


def test_a_new_list_creates_each_asset_with_its_identifiers_and_coverage(client, token, service):
    acme = client_of(service)
    body = {
        "assets": [
            device(acme, "DEV-1", service_ids=[service], site="London", status="active"),
            device(acme, "dev-2", operating_system="Windows Server 2022"),
        ]
    }
    response = put(client, body, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    summary = response.get_json()
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["refused"]) == (
        2,
        0,
        0,
        0,
    )
    first = db.session.get(Asset, summary["items"][0]["asset_id"])
    assert (first.name, first.kind, first.site, first.client_id) == (
        "Server DEV-1",
        "server",
        "London",
        acme,
    )
    assert first.service_id == service  # the first covering service receives its incidents
    assert {(i.kind, i.value) for i in first.identifiers} == {
        ("rmm_id", "dev-1"),
        ("hostname", "dev-1.acme.local"),
    }
    assert count(ServiceCoverage) == 1
    assert [i["rmm_id"] for i in summary["items"]] == ["DEV-1", "dev-2"]


def test_a_changed_device_is_updated_and_the_same_list_twice_records_nothing(
    client, token, service
):
    acme = client_of(service)
    body = {"assets": [device(acme, "dev-1"), device(acme, "dev-2")]}
    assert put(client, body, token).get_json()["created"] == 2
    events = count(DomainEvent)

    again = put(client, body, token).get_json()
    assert [i["result"] for i in again["items"]] == ["unchanged", "unchanged"]
    assert count(DomainEvent) == events  # idempotent: nothing recorded
    assert count(Asset) == 2

    body["assets"][1] |= {"name": "Renamed", "status": "retired", "type": "workstation"}
    changed = put(client, body, token).get_json()
    assert [i["result"] for i in changed["items"]] == ["unchanged", "updated"]
    asset = db.session.get(Asset, changed["items"][1]["asset_id"])
    assert (asset.name, asset.status, asset.kind) == ("Renamed", "retired", "workstation")
    assert asset.retired_at is not None
    assert count(Asset) == 2


def test_each_item_is_refused_on_its_own_with_its_errors(client, token, service):
    acme = client_of(service)
    taken = put(client, {"assets": [device(acme, "dev-1")]}, token).get_json()
    assert taken["created"] == 1
    body = {
        "assets": [
            device(acme, "dev-2"),
            {"rmm_id": "dev-3", "client_id": "7", "name": "x", "type": "server"},  # a string id
            device(acme, "dev-4", type="toaster"),
            # dev-1's hostname named for another device
            device(acme, "dev-5", identifiers=[{"kind": "hostname", "value": "DEV-1.acme.local"}]),
            device(acme, "dev-6", name="   "),
            "not an object",
            device(acme, "dev-2"),  # twice in one list
        ]
    }
    response = put(client, body, token)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["index"] for i in items] == list(range(7))
    assert [i["result"] for i in items] == ["created"] + ["refused"] * 6
    fields = [[e["field"] for e in i["errors"]] for i in items]
    assert fields[1] == ["client_id"]
    assert fields[2] == ["type"]
    assert fields[3] == ["identifiers"]
    assert "already names another asset" in items[3]["errors"][0]["message"]
    assert fields[4] == ["name"]
    assert fields[5] == ["body"] and items[5]["rmm_id"] is None
    assert fields[6] == ["rmm_id"]
    assert count(Asset) == 2  # dev-1 and dev-2 only


def test_a_covered_asset_is_not_moved_to_another_client(client, company, token, service):
    acme, bravo = client_of(service), make_client(company, "Bravo Legal", email=None)
    body = {"assets": [device(acme, "dev-1", service_ids=[service]), device(acme, "dev-2")]}
    assert put(client, body, token).get_json()["created"] == 2
    moved = {"assets": [device(bravo, "dev-1"), device(bravo, "dev-2")]}
    items = put(client, moved, token).get_json()["items"]
    # The covered one is refused on its own, as the asset form refuses it; the other moves.
    assert [i["result"] for i in items] == ["refused", "updated"]
    assert [e["field"] for e in items[0]["errors"]] == ["client_id"]
    assert "services of its client cover it" in items[0]["errors"][0]["message"]
    db.session.rollback()
    assert db.session.get(Asset, items[0]["asset_id"] or 0) is None  # refused: no id given
    clients = dict(db.session.execute(select(Asset.name, Asset.client_id)).all())
    assert clients == {"Server dev-1": acme, "Server dev-2": bravo}


def test_another_companys_client_or_service_is_refused(client, company, other_company, token):
    theirs = make_client(other_company, "Their Client", email=None)
    their_service = active_service(other_company, theirs)
    mine = make_client(company, "Acme Dental", email=None)
    body = {
        "assets": [
            device(theirs, "dev-1"),
            device(mine, "dev-2", service_ids=[their_service]),
        ]
    }
    items = put(client, body, token).get_json()["items"]
    assert [i["result"] for i in items] == ["refused", "refused"]
    assert items[0]["errors"][0]["field"] == "client_id"
    assert items[1]["errors"][0]["field"] == "service_ids"
    assert count(Asset) == 0


def test_identifiers_are_unique_per_company_not_across_companies(
    client, company, other_company, token
):
    theirs = make_client(other_company, "Their Client", email=None)
    mine = make_client(company, "Acme Dental", email=None)
    their_token = api_tokens.create(other_company, "rmm", "test")[1]
    assert (
        put(client, {"assets": [device(theirs, "dev-1")]}, their_token).get_json()["created"] == 1
    )
    # The same RMM id and hostname in another company are another asset, not theirs updated.
    mine_result = put(client, {"assets": [device(mine, "dev-1")]}, token).get_json()
    assert mine_result["created"] == 1
    assets = db.session.scalars(select(Asset).order_by(Asset.id)).all()
    assert [(a.company_id, a.client_id) for a in assets] == [
        (other_company, theirs),
        (company, mine),
    ]
    assert count(AssetIdentifier) == 4


def test_more_than_1000_items_or_an_oversized_body_is_refused_whole(app, client, token, service):
    acme = client_of(service)
    many = {"assets": [device(acme, f"dev-{n}") for n in range(1001)]}
    body = assert_error(put(client, many, token), 422, "assets")
    assert body["fields"][0]["field"] == "assets"
    assert "1000" in body["fields"][0]["message"]
    limit = app.config["API_MAX_CONTENT_LENGTH"]
    big = {"assets": [device(acme, "dev-1", site="x" * limit)]}
    assert_error(put(client, big, token), 413, f"at most {limit} bytes")
    assert count(Asset) == 0


def test_the_sync_needs_a_token_and_json(client, token, service):
    acme = client_of(service)
    body = {"assets": [device(acme)]}
    assert_error(client.put(f"{API}/assets", json=body), 401)
    raw = json.dumps(body)
    assert_error(client.put(f"{API}/assets", data=raw, headers=auth(token)), 415)
    assert_error(put(client, {"devices": []}, token), 422, "assets")
    assert count(Asset) == 0


def test_an_rmm_id_longer_than_kept_once_in_lower_case_is_refused_alone(client, token, service):
    acme = client_of(service)
    # 200 letters as sent, 400 folded: "İ" is "i" and a combining dot in lower case.
    long = {"rmm_id": "İ" * 200, "client_id": acme, "name": "x", "type": "server"}
    response = put(client, {"assets": [long, device(acme, "dev-1")]}, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    items = response.get_json()["items"]
    assert [i["result"] for i in items] == ["refused", "created"]
    assert [e["field"] for e in items[0]["errors"]] == ["rmm_id"]
    assert "255" in items[0]["errors"][0]["message"]
    assert count(Asset) == 1


def test_two_identical_syncs_at_once_both_answer_and_the_second_changes_nothing(
    app, company, token, service, monkeypatch
):
    acme = client_of(service)
    actions.set_quantity_follows_assets(company, service, True, "test")
    body = {"assets": [device(acme, f"dev-{n}", service_ids=[service]) for n in range(20)]}

    # Both reach the writes with the same plan, if nothing keeps them apart: each waits (a
    # while at most) for the other once it has planned.
    meet = threading.Barrier(2)
    plan = syncing._Plan

    class Waiting(plan):
        def __init__(self, *args):
            super().__init__(*args)
            with contextlib.suppress(threading.BrokenBarrierError):
                meet.wait(timeout=3)

    monkeypatch.setattr(syncing, "_Plan", Waiting)
    answers = []

    def sync():
        response = put(app.test_client(), body, token)
        answers.append((response.status_code, response.get_json()))

    assert run_at_once(app, sync, sync) == []
    assert sorted(status for status, _ in answers) == [200, 200]
    counts = sorted((a["created"], a["unchanged"]) for _, a in answers)
    assert counts == [(0, 20), (20, 0)]
    assert count(Asset) == 20 and count(ServiceCoverage) == 20
    assert db.session.get(ClientService, service).quantity == 20
    changes = select(func.count()).where(DomainEvent.type == "ServiceQuantityChanged")
    assert db.session.scalar(changes) == 1  # once, by the first sync


def test_a_sync_retiring_a_device_while_another_service_starts_covering_it_counts_both(
    app, company, token, service, monkeypatch
):
    acme = client_of(service)
    other = active_service(company, acme)
    for following in (service, other):
        actions.set_quantity_follows_assets(company, following, True, "test")
    first = {"assets": [device(acme, "x", service_ids=[service]), device(acme, "y")]}
    assert put(app.test_client(), first, token).get_json()["created"] == 2
    x, y = (db.session.scalar(select(Asset.id).filter_by(name=f"Server {n}")) for n in "xy")
    actions.cover(company, other, y, "test")
    db.session.rollback()

    # The cover waits before it commits; the sync plans meanwhile (x covered by `service`
    # alone, so far) and then waits for x.
    meeting = Meeting(monkeypatch, actions, "sync_seats")
    meeting.notice(syncing, "_Plan")
    retired = {"assets": [device(acme, "x", service_ids=[service], status="retired")]}
    answers = []

    def sync():
        answers.append(put(app.test_client(), retired, token).status_code)

    assert meeting.run(app, lambda: actions.cover(company, other, x, "test"), sync) == []
    assert answers == [200]
    db.session.rollback()
    # x is retired: `other` counts y alone again; `service` keeps its one seat.
    quantities = [db.session.get(ClientService, s).quantity for s in (service, other)]
    assert quantities == [1, 1]
