"""The demo's devices: assets behind its services, seats that follow them on the invoices,
alerts routed by host and some left for a technician to route."""

from sqlalchemy import func, select

from webapp.assets.models import ACTIVE, Asset, AssetIdentifier, ServiceCoverage, UnroutedAlert
from webapp.demo.seed import seed_demo_data
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.invoices.models import InvoiceLine
from webapp.services.models import ClientService


def test_the_demo_has_assets_behind_its_services_and_alerts_routed_by_host(app):
    seed_demo_data()

    services = db.session.scalars(select(ClientService)).all()
    covered = dict(
        db.session.execute(
            select(ServiceCoverage.service_id, func.count()).group_by(ServiceCoverage.service_id)
        ).all()
    )
    assert services and all(covered.get(s.id) for s in services)  # each has its devices
    kinds = set(db.session.scalars(select(Asset.kind)))
    assert kinds == {"server", "workstation", "network_device", "cloud_tenant", "mailbox"}
    identifier_kinds = set(db.session.scalars(select(AssetIdentifier.kind)))
    assert {"hostname", "instance", "serial", "rmm_id"} <= identifier_kinds
    for service in services:  # the devices a service covers are its kind's
        mine = db.session.scalars(
            select(Asset.kind)
            .join(ServiceCoverage, ServiceCoverage.asset_id == Asset.id)
            .where(ServiceCoverage.service_id == service.id)
        ).all()
        if service.service_type == "m365":
            assert set(mine) <= {"cloud_tenant", "mailbox"}
        elif service.service_type == "backup":
            assert set(mine) == {"server"}

    # Seats that follow devices: one added and one retired in the year, each an adjustment.
    (following,) = [s for s in services if s.quantity_follows_assets]
    active = db.session.scalar(
        select(func.count())
        .select_from(ServiceCoverage)
        .join(Asset, Asset.id == ServiceCoverage.asset_id)
        .where(ServiceCoverage.service_id == following.id, Asset.status == ACTIVE)
    )
    assert following.quantity == active
    assert db.session.scalar(select(func.count()).where(Asset.status == "retired")) == 1
    adjustments = db.session.scalars(
        select(InvoiceLine.amount).where(
            InvoiceLine.service_id == following.id, InvoiceLine.kind == "adjustment"
        )
    ).all()
    assert any(a > 0 for a in adjustments) and any(a < 0 for a in adjustments)

    # Alerts that named only an instance reached the service receiving their device's incidents.
    routed = db.session.execute(
        select(Incident.service_id, Asset.service_id)
        .join(Asset, Asset.id == Incident.asset_id)
        .where(Incident.source == "alertmanager")
    ).all()
    assert len(routed) >= 5 and all(got == receiving for got, receiving in routed)

    # Unknown hosts wait for a technician, and no asset has them.
    hosts = db.session.scalars(
        select(UnroutedAlert.host).where(UnroutedAlert.routed_at.is_(None))
    ).all()
    assert hosts
    assert not db.session.scalars(
        select(AssetIdentifier.value).where(AssetIdentifier.value.in_(hosts))
    ).all()
