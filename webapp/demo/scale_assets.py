"""Assets for a scale company: one behind each of the given services, as a monitoring
integration would have made them. What the ingest benchmark routes alerts to, and what the
pages benchmark lists."""

from sqlalchemy import func, insert, select, text

from webapp.assets.models import Asset, AssetIdentifier, ServiceCoverage
from webapp.extensions import db
from webapp.pipeline.outbox import unit_of_work


def add_assets(company: int, services) -> dict[int, str]:
    """One asset behind each service, covered by it and receiving its incidents, known by an
    instance and an RMM id; written in bulk (the seed of a benchmark, not a user's change, so
    no events). Returns {service id: the asset's host}."""
    first = (db.session.scalar(select(func.max(Asset.id))) or 0) + 1
    hosts, assets, identifiers, coverage = {}, [], [], []
    for asset_id, (service_id, client_id) in enumerate(services, start=first):
        host = hosts[service_id] = f"node{service_id:06d}.client.example"
        assets.append(
            {
                "id": asset_id,
                "company_id": company,
                "client_id": client_id,
                "name": host.split(".")[0],
                "kind": "server",
                "status": "active",
                "service_id": service_id,
            }
        )
        identifiers += [
            {"company_id": company, "asset_id": asset_id, "kind": "instance", "value": host},
            {
                "company_id": company,
                "asset_id": asset_id,
                "kind": "rmm_id",
                "value": f"rmm-{asset_id}",
            },
        ]
        coverage.append({"company_id": company, "service_id": service_id, "asset_id": asset_id})
    with unit_of_work():
        for model, rows in (
            (Asset, assets),
            (AssetIdentifier, identifiers),
            (ServiceCoverage, coverage),
        ):
            if rows:
                db.session.execute(insert(model), rows)
        if db.engine.dialect.name == "postgresql":
            # The ids were given: the sequence has not moved past them.
            db.session.execute(
                text("SELECT setval(pg_get_serial_sequence('assets', 'id'), max(id)) FROM assets")
            )
    return hosts
