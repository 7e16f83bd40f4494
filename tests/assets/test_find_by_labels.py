"""fold() and find_by_labels(): the contract the alert routing is written against."""

import pytest

from tests.support.factories import make_client
from webapp.assets.actions import find_by_labels, fold
from webapp.assets.models import Asset, AssetIdentifier
from webapp.extensions import db

ORDER = ["asset_id", "instance", "hostname", "host"]


def _asset(company_id, name, *identifiers):
    client_id = make_client(company_id, name=f"Client of {name}", email=None)
    asset = Asset(company_id=company_id, client_id=client_id, name=name, kind="server")
    db.session.add(asset)
    db.session.flush()
    for kind, value in identifiers:
        db.session.add(
            AssetIdentifier(
                company_id=company_id, asset_id=asset.id, kind=kind, value=fold(kind, value)
            )
        )
    db.session.commit()
    return asset.id


@pytest.mark.parametrize(
    ("kind", "value", "folded"),
    [
        ("instance", "Web1.Example.com:9100", "web1.example.com"),
        ("instance", " https://web1:9100/metrics ", "web1"),
        ("instance", "[FE80::1]:9100", "fe80::1"),
        ("instance", "fe80::1", "fe80::1"),
        ("instance", "10.0.0.5", "10.0.0.5"),
        ("hostname", "  DB-01  ", "db-01"),
        ("hostname", "db-01:9100", "db-01:9100"),  # only an instance carries a port
        ("serial", None, ""),
    ],
)
def test_fold(kind, value, folded):
    assert fold(kind, value) == folded


def test_labels_find_the_asset_in_the_company_order(app, company):
    web = _asset(company, "web1", ("hostname", "web1"), ("rmm_id", "RMM-77"))
    db_ = _asset(company, "db1", ("instance", "db1:9100"))

    assert find_by_labels(company, {"instance": "WEB1:9100"}, ORDER).id == web
    assert find_by_labels(company, {"host": "db1"}, ORDER).id == db_
    assert find_by_labels(company, {"asset_id": "rmm-77"}, ORDER).id == web
    assert find_by_labels(company, {"asset_id": str(db_)}, ORDER).id == db_
    # The first label that names a known identifier wins; unknown ones are passed over.
    assert find_by_labels(company, {"instance": "nobody:1", "hostname": "db1"}, ORDER).id == db_
    assert find_by_labels(company, {"instance": "web1:1", "hostname": "db1"}, ORDER).id == web
    assert find_by_labels(company, {"hostname": "db1", "instance": "web1"}, ["hostname"]).id == db_
    # Labels the company does not route by are not looked at.
    assert find_by_labels(company, {"job": "web1"}, ORDER) is None
    assert find_by_labels(company, {"instance": "", "host": None}, ORDER) is None
    assert find_by_labels(company, {}, ORDER) is None


def test_another_companys_asset_is_never_matched(app, company, other_company):
    theirs = _asset(other_company, "web1", ("hostname", "web1"), ("rmm_id", "9"))
    for labels in (
        {"instance": "web1:9100"},
        {"hostname": "web1"},
        {"host": "web1"},
        {"asset_id": "9"},
        {"asset_id": str(theirs)},
    ):
        assert find_by_labels(company, labels, ORDER) is None
        assert find_by_labels(other_company, labels, ORDER) is not None


def test_a_numeric_rmm_id_wins_over_an_own_id_that_equals_it(app, company):
    # RMMs (NinjaOne, Datto) number their devices: an asset_id label of "<n>" that is some
    # asset's RMM id names that asset, not whichever asset our own numbering gave the id n.
    first = _asset(company, "first", ("hostname", "first"))
    device = _asset(company, "device", ("rmm_id", str(first)))
    assert first != device
    assert find_by_labels(company, {"asset_id": str(first)}, ORDER).id == device
    assert find_by_labels(company, {"asset_id": str(device)}, ORDER).id == device


def test_the_routers_lookup_of_a_whole_notification_finds_what_find_by_labels_finds(
    app, company, other_company
):
    """The receiver reads a notification's assets at once (Router.prefetch); each alert must
    still get find_by_labels' asset: the company's order, identifiers before own ids, no other
    company's."""
    from webapp.assets.routing import Router

    web = _asset(company, "web1", ("hostname", "web1"), ("rmm_id", "RMM-77"))
    db_ = _asset(company, "db1", ("instance", "db1:9100"))
    device = _asset(company, "device", ("rmm_id", str(web)))
    _asset(other_company, "theirs", ("hostname", "theirs"), ("rmm_id", str(db_ + 100)))
    alerts = [
        {"instance": "WEB1:9100"},
        {"host": "db1"},
        {"asset_id": "rmm-77"},
        {"asset_id": str(db_)},  # an own id, no identifier
        {"asset_id": str(web)},  # an RMM id that equals web's own id: device
        {"instance": "nobody:1", "hostname": "db1"},
        {"instance": "web1:1", "hostname": "db1"},
        {"hostname": "theirs"},
        {"asset_id": str(db_ + 100)},
        {"job": "web1"},
        {"instance": "  ", "host": "db1"},
        {"instance": 5, "host": "web1"},
        {},
    ]
    router = Router(company)
    router.prefetch(alerts)
    for labels in alerts:
        expected = find_by_labels(company, labels, ORDER)
        found = router.asset(labels)
        assert (found.id if found else None) == (expected.id if expected else None), labels
    assert router.asset({"asset_id": str(web)}).id == device
