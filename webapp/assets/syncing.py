"""Many assets at once, as an RMM's nightly sync sends them (PUT /api/v1/assets) and an import
commits them: each matched by its RMM id, created or brought up to date, in one unit of work.

Idempotent: sending the same list again changes nothing and records nothing. Identifiers sent
are added, never removed: the hosts a technician taught the routing stay. An item that cannot
be applied (an unknown client, an identifier of another asset) is refused alone, with its
errors per field; the others are applied. Seats that follow devices change once per service
for the whole list (webapp.assets.actions, "Seats follow devices").
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.assets import actions
from webapp.assets.models import ACTIVE, KINDS, RETIRED, Asset, AssetIdentifier, ServiceCoverage
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.database import chunked
from webapp.extensions import db
from webapp.invoices.documents import lock_company
from webapp.lifecycle import events as ev
from webapp.pipeline.outbox import record_many, unit_of_work
from webapp.services.models import ClientService

MAX_ITEMS = 1000


@dataclass(frozen=True)
class SyncedAsset:
    rmm_id: str
    client_id: int
    name: str
    kind: str = "server"
    site: str | None = None
    operating_system: str | None = None
    status: str | None = None  # None: as it is (a new one is active)
    last_seen_at: dt.datetime | None = None  # naive UTC
    identifiers: tuple[tuple[str, str], ...] = ()  # (kind, value), added to its own
    service_ids: tuple[int, ...] = ()  # services that cover it from now (never uncovered here)


@dataclass(frozen=True)
class ItemResult:
    index: int
    rmm_id: str
    result: str  # created, updated, unchanged, refused
    asset_id: int | None = None
    errors: tuple[tuple[str, str], ...] = ()  # (field, message)


def upsert_assets(company_id: int, items: list[SyncedAsset], actor: str) -> list[ItemResult]:
    if len(items) > MAX_ITEMS:
        raise actions.AssetRefused(f"Send at most {MAX_ITEMS} assets at once.", "items")
    for attempt in range(ATTEMPTS):
        try:
            return actions.with_coverage_locked(lambda: _upsert_once(company_id, items, actor))
        except IntegrityError:
            # A writer that is not a sync (a technician routing a host to an asset) took an
            # identifier the plan thought free: plan again, which refuses that item alone.
            if attempt + 1 == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


ATTEMPTS = 3


def _upsert_once(company_id: int, items: list[SyncedAsset], actor: str) -> list[ItemResult]:
    with unit_of_work():
        # Lock order (webapp.assets.actions): the company, the services, then the assets.
        # Two syncs (or a sync and an import) of one company queue at the company's row, so
        # the second plans after the first committed and finds its devices there.
        lock_company(company_id)
        plan = _Plan(company_id, items)
        services = actions._lock_services(company_id, plan.service_ids())
        plan.lock_assets(services)
        results, events, touched = [], [], set()
        for index, item in enumerate(items):
            errors = plan.errors(index, item)
            if errors:
                results.append(ItemResult(index, item.rmm_id, "refused", None, tuple(errors)))
                continue
            result, asset, event, covered = _apply(company_id, plan, item)
            results.append(ItemResult(index, item.rmm_id, result, asset.id))
            events += [(e, company_id) for e in event]
            touched |= covered
            if result != "unchanged" and item.status is not None:
                touched |= set(plan.covering(asset.id))
        record_many(events, actor)
        db.session.flush()
        actions.sync_seats(company_id, [s for s in services if s.id in touched], actor)
    return results


class _Plan:
    """What the list needs from the database, read in a few statements up front."""

    def __init__(self, company_id: int, items: list[SyncedAsset]):
        self.company_id = company_id
        self.rmm = {actions.fold("rmm_id", i.rmm_id) for i in items} - {""}
        values = set(self.rmm)
        for item in items:
            for _kind, value in _identifiers(item):
                values.add(value)
        self.owner: dict[str, int] = {}  # folded identifier -> asset id
        for part in chunked(sorted(values)):
            self.owner.update(
                db.session.execute(
                    select(AssetIdentifier.value, AssetIdentifier.asset_id).where(
                        AssetIdentifier.company_id == company_id, AssetIdentifier.value.in_(part)
                    )
                ).all()
            )
        # The assets already known, their client and whether a service covers them: moving a
        # covered asset to another client is refused, as the asset form refuses it.
        known = sorted(set(self.owner.values()))
        self.client_of: dict[int, int] = {}
        self.covered: set[int] = set()
        for part in chunked(known):
            self.client_of.update(
                db.session.execute(
                    select(Asset.id, Asset.client_id).where(
                        Asset.company_id == company_id, Asset.id.in_(part)
                    )
                ).all()
            )
            self.covered.update(
                db.session.scalars(
                    select(ServiceCoverage.asset_id).where(
                        ServiceCoverage.company_id == company_id,
                        ServiceCoverage.asset_id.in_(part),
                    )
                )
            )
        client_ids = {i.client_id for i in items if isinstance(i.client_id, int)}
        self.clients = set(
            db.session.scalars(
                select(Client.id).where(
                    Client.company_id == company_id, Client.id.in_(client_ids or {0})
                )
            )
        )
        wanted = {s for i in items for s in i.service_ids}
        self.services = dict(
            db.session.execute(
                select(ClientService.id, ClientService.client_id).where(
                    ClientService.company_id == company_id,
                    ClientService.id.in_(wanted or {0}),
                )
            ).all()
        )
        self.claimed: dict[str, str] = {}  # folded identifier -> rmm id of the item using it
        self._covering: dict[int, list[int]] = {}

    def service_ids(self) -> list[int]:
        return sorted(self.services) + [
            s
            for s in db.session.scalars(
                select(ServiceCoverage.service_id).where(
                    ServiceCoverage.company_id == self.company_id,
                    ServiceCoverage.asset_id.in_(set(self.owner.values()) or {0}),
                )
            )
        ]

    def lock_assets(self, services) -> None:
        """Lock the assets the list names, in id order, after the services; CoverageChanged
        (the sync starts over) if a service started covering one since the plan read them, or
        one moved to another client."""
        known = sorted(set(self.owner.values()))
        for part in chunked(known):
            rows = db.session.execute(
                select(Asset.id, Asset.client_id)
                .where(Asset.company_id == self.company_id, Asset.id.in_(part))
                .order_by(Asset.id)
                .with_for_update()
            ).all()
            if any(self.client_of.get(asset_id) != client_id for asset_id, client_id in rows):
                raise actions.CoverageChanged()
        actions.check_coverage(self.company_id, known, services)

    def covering(self, asset_id: int) -> list[int]:
        return actions._covering_ids(self.company_id, asset_id)

    def errors(self, index: int, item: SyncedAsset) -> list[tuple[str, str]]:
        found = []
        rmm = actions.fold("rmm_id", item.rmm_id)
        if not rmm:
            found.append(("rmm_id", "is required: the sync matches assets by it"))
        elif len(rmm) > actions.MAX_IDENTIFIER:
            # Measured folded, as it is stored: lower case can be longer ("İ" is two letters).
            found.append(
                ("rmm_id", f"is longer than {actions.MAX_IDENTIFIER} characters in lower case")
            )
        elif rmm in self.claimed:
            found.append(("rmm_id", f"is sent twice in this list ({item.rmm_id})"))
        if not (item.name or "").strip():
            found.append(("name", "is required"))
        if item.kind not in KINDS:
            found.append(("kind", f"is not one of {', '.join(KINDS)}"))
        if item.status not in (None, ACTIVE, RETIRED):
            found.append(("status", "is active or retired"))
        mine = self.owner.get(rmm)
        if item.client_id not in self.clients:
            found.append(("client_id", "is not one of this company's clients"))
        elif mine in self.covered and self.client_of.get(mine) != item.client_id:
            found.append(
                (
                    "client_id",
                    "moves it to another client while services of its client cover it: "
                    "uncover it from them first",
                )
            )
        for _kind, value in _identifiers(item, found):
            owner = self.owner.get(value)
            if owner is not None and owner != mine:
                found.append(("identifiers", f"{value} already names another asset"))
            elif self.claimed.get(value, rmm) != rmm:
                found.append(("identifiers", f"{value} is sent for two assets in this list"))
        for service_id in item.service_ids:
            if self.services.get(service_id) != item.client_id:
                found.append(("service_ids", f"{service_id} is not a service of its client"))
        if not found:
            self.claimed[rmm] = item.rmm_id
            for _kind, value in _identifiers(item):
                self.claimed[value] = rmm
        return found


def _identifiers(item: SyncedAsset, errors: list | None = None) -> list[tuple[str, str]]:
    try:
        return actions.folded_identifiers(item.identifiers)
    except actions.AssetRefused as exc:
        if errors is not None:
            errors.append(("identifiers", str(exc)))
        return []


FIELDS = ("client_id", "name", "kind", "site", "operating_system")


def _apply(company_id: int, plan: _Plan, item: SyncedAsset):
    rmm = actions.fold("rmm_id", item.rmm_id)
    asset_id = plan.owner.get(rmm)
    values = {name: getattr(item, name) for name in FIELDS}
    values["name"] = values["name"].strip()
    events = []
    if asset_id is None:
        asset = Asset(company_id=company_id, status=item.status or ACTIVE, **values)
        if asset.status == RETIRED:
            asset.retired_at = utcnow()
        asset.last_seen_at = item.last_seen_at
        db.session.add(asset)
        db.session.flush()
        result = "created"
        events.append(ev.AssetCreated(None, asset.client_id, asset.id, asset.name))
    else:
        asset = db.session.get(Asset, asset_id)
        changes = {}
        if item.status is not None and item.status != asset.status:
            values["status"] = item.status
        for name, new in values.items():
            old = getattr(asset, name)
            if (old or None) != (new or None):
                changes[name] = [actions._text(old), actions._text(new)]
                setattr(asset, name, new)
        if "status" in changes:
            asset.retired_at = utcnow() if asset.status == RETIRED else None
        if item.last_seen_at and (asset.last_seen_at or dt.datetime.min) < item.last_seen_at:
            asset.last_seen_at = item.last_seen_at  # not a change worth a trail entry
        result = "updated" if changes else "unchanged"
        if changes:
            events.append(ev.AssetUpdated(None, asset.client_id, asset.id, changes))
    have = {row.value for row in asset.identifiers} if asset_id else set()
    added = [(k, v) for k, v in [("rmm_id", rmm), *_identifiers(item)] if v not in have]
    seen = set()
    for kind, value in added:
        if value in seen:
            continue
        seen.add(value)
        db.session.add(
            AssetIdentifier(company_id=company_id, asset_id=asset.id, kind=kind, value=value)
        )
        plan.owner[value] = asset.id
    if added and result == "unchanged":
        result = "updated"
        events.append(
            ev.AssetUpdated(
                None, asset.client_id, asset.id, {"identifiers": [None, ", ".join(sorted(seen))]}
            )
        )
    covered = set()
    already = set(plan.covering(asset.id)) if asset_id else set()
    for service_id in dict.fromkeys(item.service_ids):
        if service_id in already:
            continue
        db.session.add(
            ServiceCoverage(company_id=company_id, service_id=service_id, asset_id=asset.id)
        )
        if asset.service_id is None:
            asset.service_id = service_id
        events.append(
            ev.ServiceCoverageChanged(service_id, asset.client_id, asset.id, asset.name, True)
        )
        covered.add(service_id)
        if result == "unchanged":
            result = "updated"
    db.session.flush()
    return result, asset, events, covered
