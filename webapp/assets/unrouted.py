"""Alerts whose host matched no asset: kept, counted and listed until a technician routes them.

An alert is never refused for naming an unknown host (Alertmanager would not send it again,
and the incident would be lost). It is kept under its host, one open row per host: a repeat,
or another alert about the same host, counts on that row and keeps the latest labels and what
is needed to record its incident. A resolved alert marks the row resolved. Routing it to an
asset remembers the host as one of the asset's identifiers, so the next alert goes straight
through, and records the incident at once if the alert is still firing.
"""

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.assets import actions as assets
from webapp.assets.actions import AssetRefused, fold, identifier_text, label_kind
from webapp.assets.models import Asset, AssetIdentifier, UnroutedAlert
from webapp.assets.routing import (
    TAKES_INCIDENTS,
    RouteRefused,
    explicit_service_id,
    service_for,
)
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents import recording
from webapp.incidents.checks import IncidentRefused
from webapp.lifecycle.events import AssetUpdated
from webapp.lifecycle.statuses import Severity
from webapp.pipeline.outbox import record, savepoint, unit_of_work
from webapp.services.models import ClientService
from webapp.tenancy import NotFound, get_or_404, scoped

SUMMARY_LENGTH = 500  # UnroutedAlert.summary


class RoutingRefused(ValueError):
    """This alert cannot be routed so; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Held:
    """An alert to keep: its host, its labels and the incident it would open."""

    host: str
    host_label: str
    labels: dict[str, str]
    new: recording.NewIncident  # its service_id is not known yet (0)


def _alert_json(held: Held) -> dict:
    new = held.new
    return {
        "title": new.title,
        "severity": Severity(new.severity).value,
        "opened_at": new.opened_at.isoformat() if new.opened_at else None,
        "description": new.description,
        "source": new.source,
        "external_key": new.external_key,
        "host_label": held.host_label,
    }


def keep(company_id: int, alerts: list[Held]) -> list[UnroutedAlert | Exception]:
    """Keep these alerts in one transaction, each in a savepoint of its own; for each, its open
    row, or the error that kept it from being written (the others are written)."""
    outcomes: list[UnroutedAlert | Exception] = []
    if not alerts:
        return outcomes
    now = utcnow()
    with unit_of_work():
        for held in alerts:
            try:
                with savepoint():
                    outcomes.append(_keep_one(company_id, held, now))
            except IntegrityError as exc:
                outcomes.append(exc)
    return outcomes


def _open_row(company_id: int, host: str) -> UnroutedAlert | None:
    return db.session.scalars(
        scoped(UnroutedAlert, company_id)
        .where(UnroutedAlert.host == host, UnroutedAlert.routed_at.is_(None))
        .with_for_update()
    ).first()


def _keep_one(company_id: int, held: Held, now: dt.datetime) -> UnroutedAlert:
    latest = {
        "source": held.new.source,
        "summary": held.new.title[:SUMMARY_LENGTH],
        "severity": Severity(held.new.severity).value,
        "labels": dict(held.labels),
        "alert": _alert_json(held),
        "last_seen_at": now,
        "resolved_at": None,  # firing again
    }
    row = _open_row(company_id, held.host)
    if row is None:
        try:
            with savepoint():
                row = UnroutedAlert(
                    company_id=company_id, host=held.host, count=1, first_seen_at=now, **latest
                )
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:
            # Another request kept this host first (one open row per host): count on its row.
            row = _open_row(company_id, held.host)
            if row is None:
                raise
    for name, value in latest.items():
        setattr(row, name, value)
    row.count += 1
    db.session.flush()
    return row


def resolve(company_id: int, host: str, source: str, key: str, at: dt.datetime | None) -> bool:
    """The alert kept under this host, with this key, ended: its row is marked resolved (and
    routing it later records no incident). Whether there was such an open row."""
    with unit_of_work():
        row = _open_row(company_id, host)
        if (
            row is None
            or row.resolved_at is not None
            or (row.alert or {}).get("source") != source
            or (row.alert or {}).get("external_key") != key
        ):
            return False
        row.resolved_at = min(at or utcnow(), utcnow())
    return True


def route(
    company_id: int, unrouted_id: int, asset_id: int, actor: str
) -> tuple[UnroutedAlert, int | None]:
    """Route a kept alert to an asset: its host becomes an identifier of the asset, and, if the
    alert still fires, its incident is recorded on the service the asset's routing gives.
    Returns the row and the incident's id (None: it had resolved). Refused (RoutingRefused,
    NotFound) before anything is written."""
    row = get_or_404(UnroutedAlert, company_id, unrouted_id)
    asset = get_or_404(Asset, company_id, asset_id)
    if row.routed_at is not None:
        raise RoutingRefused(
            f"This alert was routed already, {row.routed_by and 'by ' + row.routed_by}."
        )
    owner = _owner_of(company_id, row.host)
    if owner is not None and owner != asset.id:
        other = db.session.get(Asset, owner)
        raise RoutingRefused(
            f"{row.host} is an identifier of the asset {other.name} already: route it there, "
            "or remove it from that asset first."
        )
    incident_id = None
    if row.resolved_at is None:
        incident_id = _record(company_id, row, asset, actor)
    with unit_of_work():
        row = get_or_404(UnroutedAlert, company_id, unrouted_id, for_update=True)
        if row.routed_at is not None:
            raise RoutingRefused("This alert was routed already, by someone else just now.")
        asset = get_or_404(Asset, company_id, asset_id)
        if _owner_of(company_id, row.host) is None:
            before = identifier_text(asset)
            kind = label_kind((row.alert or {}).get("host_label") or "hostname")
            db.session.add(
                AssetIdentifier(
                    company_id=company_id, asset_id=asset.id, kind=kind, value=fold(kind, row.host)
                )
            )
            record(
                AssetUpdated(
                    service_id=None,
                    client_id=asset.client_id,
                    asset_id=asset.id,
                    changes={"identifiers": [before or None, identifier_text(asset)]},
                ),
                company_id,
                actor,
            )
        row.routed_at, row.routed_by = utcnow(), actor
        row.asset_id, row.incident_id = asset.id, incident_id
        if asset.last_seen_at is None or asset.last_seen_at < row.last_seen_at:
            asset.last_seen_at = row.last_seen_at
    return row, incident_id


def route_to_new(
    company_id: int,
    unrouted_id: int,
    fields: "assets.AssetFields",
    service_id: int | None,
    actor: str,
) -> tuple[UnroutedAlert, int | None, int]:
    """Create an asset for a client, named by the alert's host (and covered by one of the
    client's services, which then receives its incidents), and route the alert to it. Returns
    route()'s answer and the new asset's id. Everything is checked before the asset is made."""
    row = get_or_404(UnroutedAlert, company_id, unrouted_id)
    if row.routed_at is not None:
        raise RoutingRefused("This alert was routed already.")
    if service_id is not None:
        service = get_or_404(ClientService, company_id, service_id)
        if service.client_id != fields.client_id:
            raise RoutingRefused(f"{service.name} is another client's service.")
    if row.resolved_at is None:
        # The incident is recorded once the asset exists: whatever would refuse it refuses
        # now, before the asset is made, so a refusal leaves nothing behind.
        _incident_for(company_id, row, _new_service(row, service_id), None)
    kind = label_kind((row.alert or {}).get("host_label") or "hostname")
    fields = replace(fields, identifiers=((kind, row.host), *fields.identifiers))
    try:
        asset = assets.create_asset(company_id, fields, actor)
        if service_id is not None:
            assets.cover(company_id, service_id, asset.id, actor)
    except AssetRefused as exc:
        raise RoutingRefused(str(exc)) from None
    routed, incident_id = route(company_id, unrouted_id, asset.id, actor)
    return routed, incident_id, asset.id


def _owner_of(company_id: int, host: str) -> int | None:
    return db.session.scalar(
        select(AssetIdentifier.asset_id).where(
            AssetIdentifier.company_id == company_id, AssetIdentifier.value == host
        )
    )


def _new_service(row: UnroutedAlert, chosen: int | None) -> int:
    """The service a new asset's incident goes to: the alert's service_id label's, else the
    chosen one (which must be of the alert's service_type, if it names one)."""
    labels = row.labels or {}
    try:
        explicit = explicit_service_id(labels)
    except RouteRefused as exc:
        raise RoutingRefused(str(exc)) from None
    if explicit is not None:
        return explicit
    if chosen is None:
        raise RoutingRefused(
            "The alert still fires: choose the service that receives the asset's incidents."
        )
    wanted = (labels.get("service_type") or "").strip().lower()
    service = db.session.get(ClientService, chosen)
    if wanted and service.service_type.lower() != wanted:
        raise RoutingRefused(
            f"The alert asks for a {wanted[:60]!r} service; {service.name} is not one."
        )
    return chosen


def _record(company_id: int, row: UnroutedAlert, asset: Asset, actor: str) -> int:
    """Record the kept alert's incident on the asset's service; RoutingRefused if it cannot be
    (nothing written then)."""
    try:
        service_id = service_for(company_id, asset, row.labels or {})
    except RouteRefused as exc:
        raise RoutingRefused(str(exc)) from None
    if service_id is None:
        raise RoutingRefused(
            f"The asset {asset.name} has no service that receives its incidents: choose one on "
            "its page first, then route this alert."
        )
    return _incident_for(company_id, row, service_id, asset.id, actor)


def _incident_for(company_id, row, service_id, asset_id, actor=None) -> int | None:
    """Record the kept alert's incident on this service (without an actor: only check that it
    would be recorded). RoutingRefused if it cannot be; nothing is written then."""
    alert = row.alert or {}
    opened_at = alert.get("opened_at")
    new = recording.NewIncident(
        service_id=service_id,
        title=alert.get("title") or row.summary or f"Alert on {row.host}",
        severity=Severity(alert.get("severity") or row.severity or Severity.MEDIUM),
        opened_at=dt.datetime.fromisoformat(opened_at) if opened_at else None,
        description=alert.get("description"),
        source=alert.get("source") or row.source,
        external_key=alert.get("external_key"),
        asset_id=asset_id,
    )
    try:
        if actor is None:
            recording.check(company_id, new)
            return None
        incident, _ = recording.record(company_id, new, actor)
    except NotFound:
        raise RoutingRefused(
            f"The service {service_id} the alert names is not this company's."
        ) from None
    except IncidentRefused as exc:
        raise RoutingRefused(str(exc)) from None
    return incident.id


# --- Reads ----------------------------------------------------------------------------------


def open_alerts(company_id: int, limit: int = 500) -> list[UnroutedAlert]:
    """The alerts not routed yet, the latest seen first."""
    return list(
        db.session.scalars(
            scoped(UnroutedAlert, company_id)
            .where(UnroutedAlert.routed_at.is_(None))
            .order_by(UnroutedAlert.last_seen_at.desc(), UnroutedAlert.id.desc())
            .limit(limit)
        )
    )


def open_count(company_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(UnroutedAlert)
        .where(UnroutedAlert.company_id == company_id, UnroutedAlert.routed_at.is_(None))
    )


def asset_choices(company_id: int, limit: int = 5000) -> list[tuple[int, str]]:
    """Every asset to route to, by client and name ("Acme · web1")."""
    rows = db.session.execute(
        select(Asset.id, Client.name, Asset.name, Asset.status)
        .join(Client, Client.id == Asset.client_id)
        .where(Asset.company_id == company_id)
        .order_by(Client.name, Asset.name, Asset.id)
        .limit(limit)
    )
    return [
        (id_, f"{client} · {name}" + (" (retired)" if status != "active" else ""))
        for id_, client, name, status in rows
    ]


def service_choices(company_id: int) -> list[tuple[int, str]]:
    """The services an incident may be recorded on (active or suspended), by client."""
    rows = db.session.execute(
        select(ClientService.id, Client.name, ClientService.name)
        .join(Client, Client.id == ClientService.client_id)
        .where(
            ClientService.company_id == company_id,
            ClientService.status.in_(TAKES_INCIDENTS),
        )
        .order_by(Client.name, ClientService.name, ClientService.id)
    )
    return [(id_, f"{client} · {name}") for id_, client, name in rows]
