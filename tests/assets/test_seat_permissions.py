"""Managing assets does not lift the role: a technician may retire, reactivate or add assets,
but not when that changes the quantity (billing) of a service whose seats follow devices."""

from sqlalchemy import func, select

from tests.support.factories import kept_alert, make_client, make_service
from webapp.assets import actions as assets
from webapp.assets.models import Asset, UnroutedAlert
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _asset(company_id, client_id, name):
    fields = assets.AssetFields(client_id, name, identifiers=(("hostname", name),))
    return assets.create_asset(company_id, fields, "test").id


def _following(company, client, *names):
    service = make_service(company, client, name="Backup")
    lc.activate(company, service, "test")
    ids = [_asset(company, client, n) for n in names]
    for asset in ids:
        assets.cover(company, service, asset, "test")
    assets.set_quantity_follows_assets(company, service, True, "test")
    return service, ids


def _fresh(model, row_id):
    db.session.rollback()  # a fresh read, not this session's snapshot
    return db.session.get(model, row_id)


def test_a_technician_cannot_retire_an_asset_that_is_a_seat(as_role, company):
    client = make_client(company)
    service, (web1, _web2) = _following(company, client, "web1", "web2")
    assert _fresh(ClientService, service).quantity == 2
    response = as_role(R.TECHNICIAN).post(f"/assets/{web1}/retire")
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "Your role cannot transition services" in text and "from 2 to 1" in text
    assert response.headers["HX-Retarget"] == "#flash"  # the message, in place
    assert _fresh(Asset, web1).status == "active"  # nothing half-written
    assert _fresh(ClientService, service).quantity == 2

    assert as_role(R.ACCOUNT_MANAGER).post(f"/assets/{web1}/retire").status_code == 200
    assert _fresh(Asset, web1).status == "retired"
    assert _fresh(ClientService, service).quantity == 1
    # Back again: a seat again, so refused to the technician too.
    assert as_role(R.TECHNICIAN).post(f"/assets/{web1}/reactivate").status_code == 403
    assert _fresh(Asset, web1).status == "retired"


def test_a_technician_may_retire_what_changes_no_seat(as_role, company):
    client = make_client(company)
    # The last seat: a service bills at least one, so the quantity stays 1.
    _service, (only,) = _following(company, client, "only1")
    # Covered by a service whose seats are set by hand.
    manual = make_service(company, client, name="Monitoring")
    lc.activate(company, manual, "test")
    other = _asset(company, client, "web9")
    assets.cover(company, manual, other, "test")
    tech = as_role(R.TECHNICIAN)
    assert tech.post(f"/assets/{only}/retire").status_code == 200
    assert tech.post(f"/assets/{other}/retire").status_code == 200
    assert _fresh(Asset, only).status == _fresh(Asset, other).status == "retired"


def test_a_new_asset_from_an_unrouted_alert_on_a_following_service(as_role, company):
    client = make_client(company)
    service, _ = _following(company, client, "web1")
    unrouted = kept_alert(company, host="web7")
    form = {"client_id": str(client), "name": "web7", "kind": "server", "service_id": str(service)}
    response = as_role(R.TECHNICIAN).post(f"/assets/unrouted/{unrouted}/new-asset", data=form)
    assert response.status_code == 403
    assert "the seats of Backup follow its devices" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1  # nothing made
    assert db.session.get(UnroutedAlert, unrouted).routed_at is None


def test_an_admin_makes_the_new_asset_a_seat(as_role, company):
    client = make_client(company)
    service, _ = _following(company, client, "web1")
    unrouted = kept_alert(company, host="web7")
    form = {"client_id": str(client), "name": "web7", "kind": "server", "service_id": str(service)}
    response = as_role(R.ADMIN).post(f"/assets/unrouted/{unrouted}/new-asset", data=form)
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]
    assert _fresh(ClientService, service).quantity == 2
