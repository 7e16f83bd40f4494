"""The asset pages: list and filters, one asset, forms, coverage from both sides, tenancy."""

from sqlalchemy import select

from tests.support.factories import make_client, make_service
from webapp.assets import actions as assets
from webapp.assets.models import Asset, AssetIdentifier, ServiceCoverage
from webapp.extensions import db
from webapp.lifecycle.statuses import UserRole as R
from webapp.services import actions as lc
from webapp.services.models import ClientService


def _asset(company_id, client_id, name, *identifiers, kind="server"):
    fields = assets.AssetFields(client_id, name, kind, identifiers=identifiers)
    return assets.create_asset(company_id, fields, "test").id


def test_the_list_searches_names_and_identifiers_and_filters(as_role, company):
    acme, other = make_client(company), make_client(company, name="Beta Law", email=None)
    web = _asset(company, acme, "Web server", ("instance", "web1:9100"))
    pc = _asset(company, other, "Reception PC", ("hostname", "recep-01"), kind="workstation")
    assets.retire_asset(company, pc, "test")
    viewer = as_role(R.VIEWER)

    def shown(query=""):
        html = viewer.get(f"/assets{query}").get_data(as_text=True)
        return {n for n in ("Web server", "Reception PC") if n in html}

    assert shown() == {"Web server", "Reception PC"}
    assert shown("?q=WEB1:9100") == {"Web server"}  # as a label would find it
    assert shown("?q=recep") == {"Reception PC"}
    assert shown(f"?client={other}") == {"Reception PC"}
    assert shown("?kind=workstation") == {"Reception PC"}
    assert shown("?status=active") == {"Web server"}
    assert shown("?unrouted=1") == {"Web server"}  # active, and no service receives it
    assert shown("?q=nothing-like-it") == set()
    page = viewer.get(f"/assets/{web}").get_data(as_text=True)
    assert "web1" in page and "No service covers it" in page
    assert "Web server" in viewer.get(f"/clients/{acme}").get_data(as_text=True)


def test_a_technician_adds_an_asset_and_errors_show_in_place(as_role, company):
    acme = make_client(company)
    _asset(company, acme, "Taken", ("hostname", "db1"))
    tech = as_role(R.TECHNICIAN)
    response = tech.post(
        "/assets/new",
        {"client_id": str(acme), "name": "DB", "kind": "server", "identifiers": "hostname: DB1"},
    )
    assert response.status_code == 422
    assert "already names the asset Taken" in response.get_data(as_text=True)
    response = tech.post(
        "/assets/new",
        {
            "client_id": str(acme),
            "name": "DB",
            "kind": "server",
            "identifiers": "db2\ninstance: https://DB2.example:9100\nrmm_id: 77",
        },
    )
    assert response.headers["HX-Redirect"].startswith("/assets/")
    asset = db.session.scalars(select(Asset).filter_by(name="DB")).one()
    assert {(i.kind, i.value) for i in asset.identifiers} == {
        ("hostname", "db2"),
        ("instance", "db2.example"),
        ("rmm_id", "77"),
    }
    assert tech.post(f"/assets/{asset.id}/retire").status_code == 200
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(Asset, asset.id).status == "retired"
    # A viewer may look, not change.
    assert as_role(R.VIEWER).post(f"/assets/{asset.id}/reactivate").status_code == 403


def test_coverage_from_the_service_page_and_the_receiving_service(as_role, company):
    acme = make_client(company)
    backup = make_service(company, acme, name="Backup")
    monitoring = make_service(company, acme, name="Monitoring")
    lc.activate(company, backup, "test")
    web = _asset(company, acme, "web1", ("hostname", "web1"))
    manager = as_role(R.ACCOUNT_MANAGER)
    assert (
        manager.post(f"/assets/services/{backup}/cover", {"asset_id": str(web)}).status_code == 200
    )
    assert (
        manager.post(f"/assets/services/{monitoring}/cover", {"asset_id": str(web)}).status_code
        == 200
    )
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(Asset, web).service_id == backup  # the first to cover it
    html = manager.get(f"/services/{backup}").get_data(as_text=True)
    assert 'id="service_assets"' in html and "receives its incidents" in html
    assert (
        manager.post(f"/assets/{web}/receiving", {"service_id": str(monitoring)}).status_code == 200
    )
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(Asset, web).service_id == monitoring
    manager.post(f"/assets/services/{monitoring}/uncover", {"asset_id": str(web)})
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(Asset, web).service_id == backup  # the one still covering it
    # Seats follow devices, switched on from the service page.
    manager.post(f"/assets/services/{backup}/follow", {"follows": "1"})
    db.session.rollback()  # a fresh read, not this session's snapshot
    assert db.session.get(ClientService, backup).quantity_follows_assets
    # A technician cannot change what a service covers (it bills).
    tech = as_role(R.TECHNICIAN)
    assert (
        tech.post(f"/assets/services/{backup}/uncover", {"asset_id": str(web)}).status_code == 403
    )


def test_another_companys_assets_and_services_are_404s(as_role, company, other_company):
    theirs_client = make_client(other_company, name="Theirs", email=None)
    theirs = _asset(other_company, theirs_client, "Their server", ("hostname", "shared-name"))
    theirs_service = make_service(other_company, theirs_client)
    mine = make_client(company)
    # The same identifier is free in another company.
    _asset(company, mine, "My server", ("hostname", "shared-name"))
    admin = as_role(R.ADMIN)
    assert admin.get(f"/assets/{theirs}").status_code == 404
    assert admin.post(f"/assets/{theirs}/retire").status_code == 404
    assert "Their server" not in admin.get("/assets?q=shared").get_data(as_text=True)
    my_service = make_service(company, mine)
    response = admin.post(f"/assets/services/{my_service}/cover", {"asset_id": str(theirs)})
    assert response.status_code == 404
    response = admin.post(f"/assets/services/{theirs_service}/cover", {"asset_id": "1"})
    assert response.status_code == 404
    assert db.session.scalar(select(ServiceCoverage.id)) is None
    assert db.session.scalars(select(AssetIdentifier.company_id)).all().count(company) == 1
