"""Assets from CSV: the dry run of each row, and the commit (webapp.imports.planning and
committing call these; the rules of both hold here too).

A row finds its asset by any identifier it gives (RMM ID, Serial, Hostname, Instance, folded as
webapp.assets.actions.fold does), else by name among its client's assets. Identifiers are
added to an asset's own, never removed (as the RMM sync does: a host a technician routed
stays); a row's Covered Service covers the asset from now on (an import never uncovers).
The commit changes assets as the asset actions do, with their events, and brings the seats of
services that follow their devices to the count once per service for the whole file
(webapp.assets.actions.sync_seats: one quantity change, with its prorated adjustment).
"""

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from webapp.assets import actions
from webapp.assets.models import ACTIVE, KINDS, RETIRED, Asset, AssetIdentifier, ServiceCoverage
from webapp.clock import utcnow
from webapp.database import chunked
from webapp.extensions import db
from webapp.imports import parsing as p
from webapp.imports.planning import (
    Outcome,
    RowPlan,
    _ClientIndex,
    _error,
    _FileKeys,
    _matched,
)
from webapp.lifecycle import events as ev
from webapp.lifecycle.statuses import ServiceStatus
from webapp.pipeline.outbox import record_many
from webapp.services.actions import ImportRefused
from webapp.services.models import ClientService

# The identifier columns, in the order a row's asset is looked for by them.
IDENTIFIER_COLUMNS = ("rmm_id", "serial", "hostname", "instance")
TEXT_FIELDS = ("name", "kind", "site", "operating_system")
_ENDED = (ServiceStatus.CANCELLED, ServiceStatus.EXPIRED)


def asset_type(value: str) -> str:
    word = re.sub(r"[\W_]+", "_", value.casefold()).strip("_")
    word = {"network": "network_device", "tenant": "cloud_tenant"}.get(word, word)
    if word not in KINDS:
        raise ValueError(
            f"{p.quoted(value)} is not a type of asset: use server, workstation, network "
            "device, cloud tenant, mailbox or other."
        )
    return word


def asset_status(value: str) -> str:
    word = value.casefold()
    if word not in (ACTIVE, RETIRED):
        raise ValueError(f"{p.quoted(value)} is not a status: use active or retired.")
    return word


def identifier(kind: str):
    def parse(value: str) -> str:
        folded = actions.fold(kind, value)
        if not folded:
            raise ValueError(f"{p.quoted(value)} names no host.")
        if len(folded) > actions.MAX_IDENTIFIER:
            raise ValueError(f"is longer than {actions.MAX_IDENTIFIER} characters.")
        return folded

    return parse


@dataclass(frozen=True)
class _AssetRow:
    id: int
    client_id: int
    name: str
    kind: str
    site: str | None
    operating_system: str | None
    status: str
    service_id: int | None


@dataclass(frozen=True)
class _ServiceRow:
    id: int
    client_id: int
    name: str
    external_id: str | None
    status: ServiceStatus


class _Existing:
    """The company's assets, identifiers, coverage and services, read once."""

    def __init__(self, company_id: int):
        self.assets = {
            r.id: _AssetRow(*r)
            for r in db.session.execute(
                select(
                    Asset.id,
                    Asset.client_id,
                    Asset.name,
                    Asset.kind,
                    Asset.site,
                    Asset.operating_system,
                    Asset.status,
                    Asset.service_id,
                ).where(Asset.company_id == company_id)
            )
        }
        self.by_name = defaultdict(list)
        for asset in self.assets.values():
            self.by_name[(asset.client_id, asset.name.casefold())].append(asset)
        self.owner: dict[str, int] = {}
        self.values = defaultdict(dict)  # asset id -> {kind: [values]}
        for value, asset_id, kind in db.session.execute(
            select(AssetIdentifier.value, AssetIdentifier.asset_id, AssetIdentifier.kind).where(
                AssetIdentifier.company_id == company_id
            )
        ):
            self.owner[value] = asset_id
            self.values[asset_id].setdefault(kind, []).append(value)
        self.covering = defaultdict(set)
        for asset_id, service_id in db.session.execute(
            select(ServiceCoverage.asset_id, ServiceCoverage.service_id).where(
                ServiceCoverage.company_id == company_id
            )
        ):
            self.covering[asset_id].add(service_id)
        self.services = [
            _ServiceRow(*r)
            for r in db.session.execute(
                select(
                    ClientService.id,
                    ClientService.client_id,
                    ClientService.name,
                    ClientService.external_id,
                    ClientService.status,
                ).where(ClientService.company_id == company_id)
            )
        ]
        self.service_names = {s.id: s.name for s in self.services}

    def service(self, row: p.Row, column: str, client) -> int | None:
        """The client's service the cell names (by external id, else name); None when empty
        or not found (with the error)."""
        text = row.text(column)
        if not text:
            return None
        mine = [s for s in self.services if s.client_id == client.id]
        found = [s for s in mine if s.external_id == text]
        if not found:
            found = [s for s in mine if s.name.casefold() == text.casefold()]
        if len(found) > 1:
            running = [s for s in found if s.status not in _ENDED]
            found = running if len(running) == 1 else found
        if not found:
            row.error(column, f"{client.name!r} has no service {p.quoted(text)}.")
            return None
        if len(found) > 1:
            row.error(
                column,
                f"{client.name!r} has {len(found)} services named {p.quoted(text)}: give its "
                "External ID instead.",
            )
            return None
        if found[0].status in _ENDED:
            row.error(column, f"{found[0].name!r} is {found[0].status.value}.")
            return None
        return found[0].id


def _values(row: p.Row) -> dict:
    values = {"name": row.read("name", p.text_of(200))}
    if values["name"] is None:
        row.error("name", "is required.")
    if row.has("asset_type"):
        values["kind"] = row.read("asset_type", asset_type, "other")
    for name in ("site", "operating_system"):
        if row.has(name):
            values[name] = row.read(name, p.text_of(120))
    values["status"] = row.read("status", asset_status)
    values["identifiers"] = {}
    for kind in IDENTIFIER_COLUMNS:
        value = row.read(kind, identifier(kind))
        if isinstance(value, str):
            values["identifiers"][value] = kind
    return values


def plan_assets(company_id: int, rows: list[p.Row]) -> list[RowPlan]:
    clients = _ClientIndex(company_id)
    known = _Existing(company_id)
    keys = _FileKeys()
    matched: dict[int, int] = {}  # asset id -> the row that matched it
    planned = []
    for row in rows:
        client = clients.find(row)
        v = _values(row)
        name = v["name"]
        label = (name if isinstance(name, str) else f"row {row.number}") + (
            f" · {client.name}" if client else ""
        )
        for value, kind in v["identifiers"].items():
            keys.claim(row, kind, ("identifier", value), f"{value!r}")
        if client is not None and isinstance(name, str) and not v["identifiers"]:
            keys.claim(row, "name", (client.id, name.casefold()), f"{name!r} for {client.name!r}")
        if row.errors or client is None:
            planned.append(_error(row, label))
            continue
        match = _match(row, v, client, known, clients)
        if match is not None:
            first = matched.setdefault(match.id, row.number)
            if first != row.number:
                row.error("name", f"row {first} is this asset too: each may be in the file once.")
        covered = known.service(row, "covered_service", client)
        receiving = known.service(row, "receiving_service", client)
        covering = known.covering.get(match.id, set()) if match else set()
        if receiving is not None and receiving not in covering | {covered}:
            row.error(
                "receiving_service",
                f"{known.service_names[receiving]!r} does not cover it: name it as its Covered "
                "Service too.",
            )
        if row.errors:
            planned.append(_error(row, label))
            continue
        v |= {"client_id": client.id, "covered": covered, "receiving": receiving}
        if match is None:
            planned.append(_create(row, label, v, known))
        else:
            planned.append(_update(row, label, v, match, known))
    return planned


def _match(row: p.Row, v: dict, client, known: _Existing, clients) -> _AssetRow | None:
    owners = {}
    for value, kind in v["identifiers"].items():
        owner = known.owner.get(value)
        if owner is not None:
            owners.setdefault(owner, (kind, value))
    if len(owners) > 1:
        names = "; ".join(
            f"{row.column_name(kind)} {value!r} names {known.assets[a].name!r}"
            for a, (kind, value) in owners.items()
        )
        row.error(next(iter(owners.values()))[0], f"names two assets here: {names}.")
        return None
    if owners:
        ((asset_id, (kind, value)),) = owners.items()
        asset = known.assets[asset_id]
        if asset.client_id != client.id:
            other = clients.by_id[asset.client_id].name
            row.error(kind, f"{value!r} names {asset.name!r}, an asset of {other!r} here.")
            return None
        return asset
    same = known.by_name.get((client.id, v["name"].casefold()), [])
    same = [a for a in same if not known.values.get(a.id)] or same
    if len(same) > 1:
        row.error(
            "name",
            f"{client.name!r} has {len(same)} assets named {v['name']!r}: add an identifier "
            "column (RMM ID, Serial, Hostname) to tell them apart.",
        )
        return None
    return same[0] if same else None


def _create(row: p.Row, label: str, v: dict, known: _Existing) -> RowPlan:
    v.setdefault("kind", "other")
    v["status"] = v["status"] or ACTIVE
    v["receiving"] = v["receiving"] or v["covered"]
    kind = v["kind"].replace("_", " ")
    notes = [f"{v['status']} {kind}"]
    if v["identifiers"]:
        notes.append(", ".join(v["identifiers"]))
    if v["covered"]:
        notes.append(f"covered by {known.service_names[v['covered']]}")
    return RowPlan(row.number, label, Outcome.CREATE, notes=notes, values=v)


def _update(row: p.Row, label: str, v: dict, match: _AssetRow, known: _Existing) -> RowPlan:
    changes, updates = {}, {}
    for name in TEXT_FIELDS:
        if name in v and (getattr(match, name) or None) != (v[name] or None):
            column = "asset_type" if name == "kind" else name
            changes[row.column_name(column)] = [getattr(match, name), v[name]]
            updates[name] = v[name]
    if v["status"] and v["status"] != match.status:
        changes[row.column_name("status")] = [match.status, v["status"]]
        updates["status"] = v["status"]
    have = known.values.get(match.id, {})
    new = {
        value: kind for value, kind in v["identifiers"].items() if known.owner.get(value) is None
    }
    for value, kind in new.items():
        old = have.get(kind, [])
        changes[row.column_name(kind)] = [", ".join(old) or None, ", ".join([*old, value])]
    updates["identifiers"] = new
    covered = v["covered"]
    if covered is not None and covered not in known.covering.get(match.id, set()):
        changes[row.column_name("covered_service")] = [None, known.service_names[covered]]
        updates["covered"] = covered
    receiving = v["receiving"] or (covered if match.service_id is None else None)
    if receiving is not None and receiving != match.service_id:
        changes[row.column_name("receiving_service")] = [
            known.service_names.get(match.service_id),
            known.service_names[receiving],
        ]
        updates["receiving"] = receiving
    if not changes:
        updates = {}
    return _matched(row, label, match.id, changes, updates, v)


# The commit


def write_assets(company_id: int, rows: list[RowPlan], actor: str) -> None:
    """In the commit's unit of work: every create and update of the plan, then the seats of
    the services that follow their devices, once per service."""
    created = [r for r in rows if r.outcome == Outcome.CREATE]
    updated = [r for r in rows if r.outcome == Outcome.UPDATE]
    # The services the rows cover, and those they make receiving (an asset's service_id is a
    # reference: writing it takes a lock on that service, which must come before the assets').
    wanted = {r.values["covered"] for r in created} | {r.updates.get("covered") for r in updated}
    wanted |= {r.values["receiving"] for r in created} | {
        r.updates.get("receiving") for r in updated
    }
    status_changed = [r.target_id for r in updated if "status" in r.updates]
    if status_changed:
        wanted |= set(
            db.session.scalars(
                select(ServiceCoverage.service_id).where(
                    ServiceCoverage.company_id == company_id,
                    ServiceCoverage.asset_id.in_(status_changed),
                )
            )
        )
    # Lock order (webapp.assets.actions): the company (the commit took it), the services, then
    # the assets in id order. The services covering an asset were read before it was locked:
    # read again once it is, and if one started covering it meanwhile, nothing is imported
    # (the commit shows the dry run again; importing again then locks that service too).
    services = actions._lock_services(company_id, wanted - {None})
    ids = sorted({r.target_id for r in updated})
    for part in chunked(ids):
        db.session.scalars(
            select(Asset)
            .where(Asset.company_id == company_id, Asset.id.in_(part))
            .order_by(Asset.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    moved = [
        r.number
        for r in updated
        if {"covered", "receiving"} & r.updates.keys()
        and db.session.get(Asset, r.target_id).client_id != r.values["client_id"]
    ]
    try:
        if moved:
            # Moved to another client since the dry run: its client's service must not cover it.
            raise actions.CoverageChanged(moved)
        actions.check_coverage(company_id, status_changed, services)
    except actions.CoverageChanged:
        raise ImportRefused(
            "Someone else changed the services covering these assets meanwhile: nothing was "
            "imported. Try again."
        ) from None
    events = []
    now = utcnow()
    for row in created:
        v = row.values
        asset = Asset(
            company_id=company_id,
            client_id=v["client_id"],
            name=v["name"],
            kind=v["kind"],
            site=v.get("site"),
            operating_system=v.get("operating_system"),
            status=v["status"],
            retired_at=now if v["status"] == RETIRED else None,
        )
        db.session.add(asset)
        db.session.flush()
        events.append(ev.AssetCreated(None, asset.client_id, asset.id, asset.name))
        _add_identifiers(asset, v["identifiers"])
        _cover(asset, v["covered"], events)
        asset.service_id = v["receiving"]
    for row in updated:
        asset = db.session.get(Asset, row.target_id)  # locked above
        u = row.updates
        changes = {}
        for name in TEXT_FIELDS:
            if name in u:
                changes[name] = [actions._text(getattr(asset, name)), actions._text(u[name])]
                setattr(asset, name, u[name])
        if "status" in u:
            asset.status = u["status"]
            asset.retired_at = now if asset.status == RETIRED else None
            event = ev.AssetRetired if asset.status == RETIRED else ev.AssetReactivated
            events.append(event(None, asset.client_id, asset.id, asset.name))
        if u.get("identifiers"):
            _add_identifiers(asset, u["identifiers"])
            changes["identifiers"] = [None, ", ".join(sorted(u["identifiers"]))]
        if "receiving" in u:
            names = actions._service_names(company_id, [asset.service_id, u["receiving"]])
            changes["receiving_service"] = [
                names.get(asset.service_id),
                names.get(u["receiving"]),
            ]
        if changes:
            events.append(ev.AssetUpdated(None, asset.client_id, asset.id, changes))
        _cover(asset, u.get("covered"), events)
        if "receiving" in u:
            asset.service_id = u["receiving"]
    record_many([(e, company_id) for e in events], actor)
    db.session.flush()
    actions.sync_seats(company_id, services, actor)


def _add_identifiers(asset: Asset, identifiers: dict[str, str]) -> None:
    db.session.add_all(
        AssetIdentifier(company_id=asset.company_id, asset_id=asset.id, kind=kind, value=value)
        for value, kind in identifiers.items()
    )


def _cover(asset: Asset, service_id: int | None, events: list) -> None:
    if service_id is None:
        return
    db.session.add(
        ServiceCoverage(company_id=asset.company_id, service_id=service_id, asset_id=asset.id)
    )
    events.append(
        ev.ServiceCoverageChanged(service_id, asset.client_id, asset.id, asset.name, True)
    )
