"""Reads of assets: the list (search, filters, a page at a time), one asset's page, a client's
assets and a service's covered assets. Every read is scoped to the company."""

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import selectinload

from webapp import search
from webapp.assets.actions import SEAT_STATUSES, fold
from webapp.assets.models import ACTIVE, KINDS, RETIRED, Asset, AssetIdentifier, ServiceCoverage
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.query_args import id_arg, text_arg
from webapp.services.models import ClientService

KIND_LABELS = {
    "server": "Server",
    "workstation": "Workstation",
    "network_device": "Network device",
    "cloud_tenant": "Cloud tenant",
    "mailbox": "Mailbox",
    "other": "Other",
}
STATUSES = (ACTIVE, RETIRED)
INCIDENTS_SHOWN = 20


@dataclass(frozen=True)
class AssetQuery:
    q: str = ""  # a name, or an identifier as monitoring writes it
    client: int | None = None
    kind: str = ""
    status: str = ""  # "" for any
    unrouted: bool = False  # active assets whose alerts reach no service
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "AssetQuery":
        kind, status = args.get("kind", ""), args.get("status", "")
        return cls(
            q=text_arg(args, "q"),
            client=id_arg(args, "client"),
            kind=kind if kind in KINDS else "",
            status=status if status in STATUSES else "",
            unrouted=args.get("unrouted") == "1",
            page=max(1, min(args.get("page", 1, type=int) or 1, 10**6)),
        )

    @property
    def args(self) -> dict:
        """The filters as the query string carries them (the page left out)."""
        return {
            "q": self.q or None,
            "client": self.client,
            "kind": self.kind or None,
            "status": self.status or None,
            "unrouted": "1" if self.unrouted else None,
        }


@dataclass(frozen=True)
class AssetRow:
    asset: Asset
    client_name: str
    service_name: str | None  # the service that receives its incidents


@dataclass(frozen=True)
class AssetPage:
    rows: list[AssetRow]
    total: int
    page: int
    pages: int


def _filters(company_id: int, query: AssetQuery) -> list:
    filters = [Asset.company_id == company_id]
    if query.client:
        filters.append(Asset.client_id == query.client)
    if query.kind:
        filters.append(Asset.kind == query.kind)
    if query.status:
        filters.append(Asset.status == query.status)
    if query.unrouted:
        filters += [Asset.status == ACTIVE, Asset.service_id.is_(None)]
    text = query.q.strip()
    if text:
        # An identifier is found as a label would find it (folded); a name by any part.
        folded = {fold("hostname", text), fold("instance", text)} - {""}
        identified = select(AssetIdentifier.asset_id).where(
            AssetIdentifier.company_id == company_id,
            or_(
                AssetIdentifier.value.in_(folded),
                AssetIdentifier.value.like(f"{text.lower()}%"),
            ),
        )
        filters.append(Asset.id.in_(union_all(search.matching_ids(Asset.name, text), identified)))
    return filters


def assets_page(company_id: int, query: AssetQuery, page_size: int) -> AssetPage:
    filters = _filters(company_id, query)
    total = db.session.scalar(select(func.count()).select_from(Asset).where(*filters))
    pages = max(1, math.ceil(total / page_size))
    page = min(query.page, pages)
    rows = db.session.execute(
        select(Asset, Client.name, ClientService.name)
        .join(Client, Client.id == Asset.client_id)
        .outerjoin(
            ClientService,
            and_(ClientService.id == Asset.service_id, ClientService.company_id == company_id),
        )
        .where(*filters)
        .options(selectinload(Asset.identifiers))
        .order_by(Asset.name, Asset.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return AssetPage([AssetRow(*row) for row in rows], total, page, pages)


def covering_services(company_id: int, asset_id: int) -> list[ClientService]:
    return list(
        db.session.scalars(
            select(ClientService)
            .join(ServiceCoverage, ServiceCoverage.service_id == ClientService.id)
            .where(ServiceCoverage.company_id == company_id, ServiceCoverage.asset_id == asset_id)
            .order_by(ClientService.name, ClientService.id)
        )
    )


def coverable_services(company_id: int, asset: Asset) -> list[ClientService]:
    """Its client's services that do not cover it yet and still run or are about to."""
    covered = select(ServiceCoverage.service_id).where(
        ServiceCoverage.company_id == company_id, ServiceCoverage.asset_id == asset.id
    )
    return list(
        db.session.scalars(
            select(ClientService)
            .where(
                ClientService.company_id == company_id,
                ClientService.client_id == asset.client_id,
                ClientService.status.in_(SEAT_STATUSES),
                ClientService.id.not_in(covered),
            )
            .order_by(ClientService.name, ClientService.id)
        )
    )


def asset_incidents(company_id: int, asset_id: int, limit: int = INCIDENTS_SHOWN):
    """Its latest incidents, open ones first."""
    return list(
        db.session.scalars(
            select(Incident)
            .where(Incident.company_id == company_id, Incident.asset_id == asset_id)
            .order_by(Incident.resolved_at.is_not(None), Incident.opened_at.desc())
            .limit(limit)
        )
    )


def client_assets(company_id: int, client_id: int) -> list[Asset]:
    return list(
        db.session.scalars(
            select(Asset)
            .where(Asset.company_id == company_id, Asset.client_id == client_id)
            .options(selectinload(Asset.identifiers))
            .order_by(Asset.status, Asset.name, Asset.id)
        )
    )


def service_assets(company_id: int, service_id: int) -> list[Asset]:
    """The assets the service covers, active first."""
    return list(
        db.session.scalars(
            select(Asset)
            .join(ServiceCoverage, ServiceCoverage.asset_id == Asset.id)
            .where(
                ServiceCoverage.company_id == company_id, ServiceCoverage.service_id == service_id
            )
            .options(selectinload(Asset.identifiers))
            .order_by(Asset.status, Asset.name, Asset.id)
        )
    )


def uncovered_assets(company_id: int, service: ClientService) -> list[Asset]:
    """Its client's active assets the service does not cover yet, for the picker."""
    covered = select(ServiceCoverage.asset_id).where(
        ServiceCoverage.company_id == company_id, ServiceCoverage.service_id == service.id
    )
    return list(
        db.session.scalars(
            select(Asset)
            .where(
                Asset.company_id == company_id,
                Asset.client_id == service.client_id,
                Asset.status == ACTIVE,
                Asset.id.not_in(covered),
            )
            .order_by(Asset.name, Asset.id)
        )
    )


def clients(company_id: int) -> list[tuple[int, str]]:
    """The clients an asset may belong to (not archived), for the pickers."""
    return list(
        db.session.execute(
            select(Client.id, Client.name)
            .where(Client.company_id == company_id, Client.archived_at.is_(None))
            .order_by(Client.name)
        ).all()
    )


# The window the client and asset pages count incidents over (as health counts breaches).
INCIDENT_DAYS = 90
WORST_SHOWN = 5


@dataclass(frozen=True)
class AssetIncidents:
    """One asset's incidents opened in a window: how many, still open, and SLA breaches
    (response and resolution each count, as the breach reports count them)."""

    asset_id: int
    name: str
    incidents: int
    open: int
    breaches: int


def _breach_count():
    return func.sum(
        case((Incident.response_breached_at.is_not(None), 1), else_=0)
        + case((Incident.resolution_breached_at.is_not(None), 1), else_=0)
    )


def incidents_by_asset(
    company_id: int,
    start: dt.datetime,
    end: dt.datetime,
    client_id: int | None = None,
    asset_id: int | None = None,
    limit: int | None = WORST_SHOWN,
) -> list[AssetIncidents]:
    """Assets by the incidents opened on them in [start, end) (naive UTC), most first, then
    by breaches and name; only assets with at least one. One grouped statement: the client's
    assets (ix_assets_company_client) and their incidents by ix_incidents_asset_id; the
    incidents' own company_id keeps the tenancy."""
    filters = [
        Incident.company_id == company_id,
        Asset.company_id == company_id,
        Incident.opened_at >= start,
        Incident.opened_at < end,
    ]
    if client_id is not None:
        filters.append(Asset.client_id == client_id)
    if asset_id is not None:
        filters.append(Asset.id == asset_id)
    incidents = func.count(Incident.id)
    breaches = _breach_count()
    statement = (
        select(
            Asset.id,
            Asset.name,
            incidents,
            func.sum(case((Incident.resolved_at.is_(None), 1), else_=0)),
            breaches,
        )
        .select_from(Asset)
        .join(Incident, Incident.asset_id == Asset.id)
        .where(*filters)
        .group_by(Asset.id, Asset.name)
        .order_by(incidents.desc(), breaches.desc(), Asset.name, Asset.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        AssetIncidents(a, name, n, int(opened or 0), int(broke or 0))
        for a, name, n, opened, broke in db.session.execute(statement)
    ]


def recent_incidents_by_asset(
    company_id: int, client_id: int | None = None, asset_id: int | None = None
) -> list[AssetIncidents]:
    """The last INCIDENT_DAYS days: the worst assets of a client, or one asset's figures."""
    now = utcnow()
    return incidents_by_asset(
        company_id,
        now - dt.timedelta(days=INCIDENT_DAYS),
        now + dt.timedelta(seconds=1),
        client_id=client_id,
        asset_id=asset_id,
    )
