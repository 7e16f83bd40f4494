"""Alerts whose host matched no asset: kept, counted and listed until a technician routes them.

An alert is never refused for naming an unknown host (Alertmanager would not send it again,
and the incident would be lost). It is kept under its host, one open row per host, which holds
every distinct alert about that host (in `alert["alerts"]`): the same source and key (the
monitoring tool's fingerprint) is the same alert, and a repeat counts on it; an alert without
a key is always one of its own. Each is firing or resolved on its own, and the row is resolved
once all of them are. The row keeps the latest labels and the total count for the list.
Routing it to an asset remembers the host as one of the asset's identifiers, so the next alert
goes straight through, and records an incident for each of its alerts: open if it still fires,
resolved (back-dated) if it ended meanwhile, so health and SLA see it either way. An alert
whose incident was recorded meanwhile (its host became an asset's identifier and a repeat went
straight through) is not recorded again: its copy here ends with that incident.
"""

import copy
import datetime as dt
import logging
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
from webapp.incidents.checks import CLOCK_SKEW, IncidentRefused
from webapp.incidents.models import Incident
from webapp.lifecycle.events import AssetUpdated
from webapp.lifecycle.statuses import Severity
from webapp.pipeline.outbox import record, savepoint, unit_of_work
from webapp.services.models import ClientService
from webapp.tenancy import NotFound, get_or_404, scoped

log = logging.getLogger(__name__)

SUMMARY_LENGTH = 500  # UnroutedAlert.summary
# Distinct alerts kept on one host's row: its JSON is rewritten on every repeat, so it stays
# bounded. Past it (a tool sending keyless alerts in a loop) further new ones only count.
MAX_ALERTS_PER_HOST = 500


class RoutingRefused(ValueError):
    """This alert cannot be routed so; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Held:
    """An alert to keep: its host, its labels and the incident it would open."""

    host: str
    host_label: str
    labels: dict[str, str]
    new: recording.NewIncident  # its service_id is not known yet (0)
    # A copy of a kept alert that ended already, with the same start, is not kept again (an
    # Alertmanager cluster peer's late "firing"): Alertmanager will not send its end again.
    late_copies_ended: bool = False


# keep()'s outcome for a late copy of an alert that ended: nothing was kept.
ENDED = "ended"


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when else None


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _entry(held: Held, now: dt.datetime) -> dict:
    """One kept alert: what records its incident once routed, and its own state."""
    new = held.new
    return {
        "title": new.title,
        "severity": Severity(new.severity).value,
        "opened_at": _iso(new.opened_at),
        "description": new.description,
        "source": new.source,
        "external_key": new.external_key,
        "labels": dict(held.labels),  # its service_id / service_type labels choose its service
        "count": 1,
        "first_seen_at": _iso(now),
        "last_seen_at": _iso(now),
        "resolved_at": None,
    }


def alerts_of(row: UnroutedAlert) -> list[dict]:
    """The row's distinct alerts, oldest first (a copy: assign it back to change the row). A
    row kept before rows held several is read as its one alert."""
    kept = copy.deepcopy(row.alert or {})
    if "alerts" in kept:
        return kept["alerts"]
    return [
        {
            **kept,
            "labels": dict(row.labels or {}),
            "count": row.count,
            "first_seen_at": _iso(row.first_seen_at),
            "last_seen_at": _iso(row.last_seen_at),
            "resolved_at": _iso(row.resolved_at),
        }
    ]


def _store(row: UnroutedAlert, host_label: str, alerts: list[dict]) -> None:
    # A new dict, so the JSON column is seen as changed. The row resolves with its last alert.
    row.alert = {"host_label": host_label, "alerts": alerts}
    ends = [_time(a["resolved_at"]) for a in alerts]
    row.resolved_at = None if None in ends else max(ends)


def _firing(alerts: list[dict], source: str, key: str | None) -> dict | None:
    """The firing alert with this source and key (a keyless alert is never another's)."""
    if not key:
        return None
    return next(
        (
            a
            for a in alerts
            if a["resolved_at"] is None and a["source"] == source and a["external_key"] == key
        ),
        None,
    )


def keep(company_id: int, alerts: list[Held]) -> list[UnroutedAlert | Exception | str]:
    """Keep these alerts in one transaction, each in a savepoint of its own; for each, its open
    row, ENDED (a late copy of one that ended: Held.late_copies_ended), or the error that kept
    it from being written (the others are written)."""
    outcomes: list[UnroutedAlert | Exception | str] = []
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


def _open_ids(company_id: int, host: str):
    return select(UnroutedAlert.id).where(
        UnroutedAlert.company_id == company_id,
        UnroutedAlert.host == host,
        UnroutedAlert.routed_at.is_(None),
    )


def _open_row(company_id: int, host: str) -> UnroutedAlert | None:
    return db.session.scalars(
        scoped(UnroutedAlert, company_id)
        .where(UnroutedAlert.host == host, UnroutedAlert.routed_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _locked(company_id: int, unrouted_id: int) -> UnroutedAlert:
    """The row, locked, as committed now: a copy this session read before the lock was
    granted (route's first look) is overwritten, or another's routing would go unseen."""
    row = db.session.scalars(
        scoped(UnroutedAlert, company_id)
        .where(UnroutedAlert.id == unrouted_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound(f"No UnroutedAlert {unrouted_id} in this company.")
    return row


def _ended(alerts: list[dict], held: Held) -> bool:
    """This alert is a late copy of a kept one that ended: the same source and key, started
    when it did or later (a start moved earlier by a later copy is kept), as the receiver's
    _resolved_already reads an incident."""
    new = held.new
    if not (held.late_copies_ended and new.external_key and new.opened_at):
        return False
    return any(
        a["resolved_at"] is not None
        and a["source"] == new.source
        and a["external_key"] == new.external_key
        and a.get("opened_at") is not None
        and _time(a["opened_at"]) >= new.opened_at - CLOCK_SKEW
        for a in alerts
    )


def _keep_one(company_id: int, held: Held, now: dt.datetime) -> UnroutedAlert | str:
    entry = _entry(held, now)
    latest = {
        "source": held.new.source,
        "summary": held.new.title[:SUMMARY_LENGTH],
        "severity": entry["severity"],
        "labels": dict(held.labels),
        "last_seen_at": now,
    }
    row = _open_row(company_id, held.host)
    if row is None:
        try:
            with savepoint():
                row = UnroutedAlert(
                    company_id=company_id,
                    host=held.host,
                    count=1,
                    first_seen_at=now,
                    alert={"host_label": held.host_label, "alerts": [entry]},
                    resolved_at=None,
                    **latest,
                )
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:
            # Another request kept this host first (one open row per host): count on its row.
            row = _open_row(company_id, held.host)
            if row is None:
                raise
    alerts = alerts_of(row)
    same = _firing(alerts, held.new.source, held.new.external_key)
    if same is None and _ended(alerts, held):
        return ENDED  # read under the row's lock: an end committed before is seen
    if same is not None:
        # A repeat: counted, with what it says now (its title or severity may have changed).
        first, count = same["first_seen_at"], same["count"]
        same.update(entry, first_seen_at=first, count=count + 1)
    elif len(alerts) < MAX_ALERTS_PER_HOST:
        alerts.append(entry)
    else:
        log.warning(
            "Unrouted host %s of company %s holds %s alerts already: %r only counted",
            held.host,
            company_id,
            MAX_ALERTS_PER_HOST,
            held.new.title[:200],
        )
    for name, value in latest.items():
        setattr(row, name, value)
    row.count += 1
    _store(row, held.host_label, alerts)
    db.session.flush()
    return row


def resolve(company_id: int, host: str, source: str, key: str, at: dt.datetime | None) -> bool:
    """The alert kept under this host, with this key, ended: it is marked resolved (routing
    records its incident as resolved then), and the row with its last alert. Whether such an
    alert was kept and firing.

    False too when a routing of the row committed while this waited for its lock: the caller
    looks for the incident again then (the routing's commit is visible to it now)."""
    # Most resolved alerts name a known host: no write transaction (SQLite's write lock) for
    # them. A row being routed is still seen here; its lock below waits for the routing.
    if db.session.scalar(_open_ids(company_id, host)) is None:
        return False
    with unit_of_work():
        row = _open_row(company_id, host)
        if row is None:
            return False
        alerts = alerts_of(row)
        ended = _firing(alerts, source, key)
        if ended is None:
            return False
        ended["resolved_at"] = _iso(min(at or utcnow(), utcnow()))
        _store(row, row.alert.get("host_label") or "hostname", alerts)
    return True


def route(
    company_id: int, unrouted_id: int, asset_id: int, actor: str, attempts: int = 3
) -> tuple[UnroutedAlert, int | None]:
    """Route a kept row to an asset: its host becomes an identifier of the asset, and each of
    its alerts is recorded as an incident on the service the asset's routing gives (resolved,
    if the alert ended meanwhile). Returns the row and the incident of its latest alert still
    firing (None: all had resolved). Refused (RoutingRefused, NotFound) with nothing written.

    The row is locked before anything is recorded and checked to be still open, so two
    technicians routing it at once record its incidents once: the second is refused."""
    row = get_or_404(UnroutedAlert, company_id, unrouted_id)
    asset = get_or_404(Asset, company_id, asset_id)
    if row.routed_at is not None:
        raise RoutingRefused(
            f"This alert was routed already, {row.routed_by and 'by ' + row.routed_by}."
        )
    _refuse_if_owned(company_id, row.host, asset)
    for attempt in range(attempts):
        try:
            with unit_of_work():
                return _route_locked(company_id, unrouted_id, asset_id, actor)
        except IntegrityError:
            # Another transaction added this host as an identifier, or opened and closed one
            # of these keyed incidents, meanwhile: look again (it is refused then if need be).
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def _route_locked(company_id, unrouted_id, asset_id, actor) -> tuple[UnroutedAlert, int | None]:
    """route()'s writes, in its unit of work, the row locked first."""
    row = _locked(company_id, unrouted_id)
    if row.routed_at is not None:
        raise RoutingRefused("This alert was routed already, by someone else just now.")
    asset = get_or_404(Asset, company_id, asset_id)
    _refuse_if_owned(company_id, row.host, asset)
    alerts = alerts_of(row)
    services = [_service_of(company_id, asset, a) for a in alerts]
    # An alert whose incident was recorded and ended meanwhile is not recorded a second time
    # (open for ever, if its copy here still fired): its copy ends with that incident.
    earlier = [_recorded_already(company_id, s, a) for s, a in zip(services, alerts, strict=True)]
    news = [
        _new_incident(row, a, s, asset.id)
        for a, s, done in zip(alerts, services, earlier, strict=True)
        if done is None
    ]
    outcomes = iter(recording.record_within(company_id, news, actor))
    incident_ids = []
    for alert, done in zip(alerts, earlier, strict=True):
        if done is not None:
            alert["resolved_at"] = alert["resolved_at"] or _iso(done.resolved_at)
            incident_ids.append(done.id)
            continue
        outcome = next(outcomes)
        if isinstance(outcome, NotFound):
            raise RoutingRefused("A service the alert names is not this company's.")
        if isinstance(outcome, IncidentRefused):
            raise RoutingRefused(str(outcome))
        incident_ids.append(outcome[0].id)
    if any(done is not None for done in earlier):
        _store(row, (row.alert or {}).get("host_label") or "hostname", alerts)
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
    firing = [i for a, i in zip(alerts, incident_ids, strict=True) if a["resolved_at"] is None]
    row.routed_at, row.routed_by = utcnow(), actor
    row.asset_id, row.incident_id = asset.id, incident_ids[-1] if incident_ids else None
    if asset.last_seen_at is None or asset.last_seen_at < row.last_seen_at:
        asset.last_seen_at = row.last_seen_at
    db.session.flush()
    return row, firing[-1] if firing else None


def _recorded_already(company_id: int, service_id: int, alert: dict) -> Incident | None:
    """The resolved incident a keyed alert kept here has on this service already: opened at its
    start or later (CLOCK_SKEW: a start ahead of our clock was recorded as our "now") and, if
    the copy here ended, by its end (one opened after it is the alert firing again). Uses the
    (service, opened_at) index."""
    key = alert.get("external_key")
    start = _time(alert.get("opened_at")) or _time(alert.get("first_seen_at"))
    if not key or start is None:
        return None
    query = select(Incident).where(
        Incident.company_id == company_id,
        Incident.service_id == service_id,
        Incident.opened_at >= start - CLOCK_SKEW,
        Incident.source == alert.get("source"),
        Incident.external_key == key,
        Incident.resolved_at.is_not(None),
    )
    ended = _time(alert.get("resolved_at"))
    if ended is not None:
        query = query.where(Incident.opened_at <= max(ended, start))
    return db.session.scalars(query.order_by(Incident.opened_at, Incident.id).limit(1)).first()


def _refuse_if_owned(company_id: int, host: str, asset: Asset) -> None:
    owner = _owner_of(company_id, host)
    if owner is not None and owner != asset.id:
        other = db.session.get(Asset, owner)
        raise RoutingRefused(
            f"{host} is an identifier of the asset {other.name} already: route it there, "
            "or remove it from that asset first."
        )


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
    # The incidents are recorded once the asset exists: whatever would refuse them refuses
    # now, before the asset is made, so a refusal leaves nothing behind.
    for alert in alerts_of(row):
        _check(company_id, _new_incident(row, alert, _new_service(alert, service_id), None))
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


def _new_service(alert: dict, chosen: int | None) -> int:
    """The service a new asset's incident goes to: the alert's service_id label's, else the
    chosen one (which must be of the alert's service_type, if it names one)."""
    labels = alert.get("labels") or {}
    try:
        explicit = explicit_service_id(labels)
    except RouteRefused as exc:
        raise RoutingRefused(str(exc)) from None
    if explicit is not None:
        return explicit
    if chosen is None:
        raise RoutingRefused(
            "Choose the service that receives the asset's incidents: routing records the "
            "alert's incident there."
        )
    wanted = (labels.get("service_type") or "").strip().lower()
    service = db.session.get(ClientService, chosen)
    if wanted and service.service_type.lower() != wanted:
        raise RoutingRefused(
            f"The alert asks for a {wanted[:60]!r} service; {service.name} is not one."
        )
    return chosen


def _service_of(company_id: int, asset: Asset, alert: dict) -> int:
    """The service the kept alert's incident goes to on this asset; RoutingRefused if none."""
    try:
        service_id = service_for(company_id, asset, alert.get("labels") or {})
    except RouteRefused as exc:
        raise RoutingRefused(str(exc)) from None
    if service_id is None:
        raise RoutingRefused(
            f"The asset {asset.name} has no service that receives its incidents: choose one on "
            "its page first, then route this alert."
        )
    return service_id


def _new_incident(row, alert: dict, service_id: int, asset_id) -> recording.NewIncident:
    """The incident a kept alert records: opened when it started (else when first seen, as it
    would have been had it been routed then), resolved when it ended, if it did."""
    opened_at = _time(alert.get("opened_at")) or _time(alert.get("first_seen_at"))
    resolved_at = _time(alert.get("resolved_at"))
    if resolved_at is not None and opened_at is not None:
        # An end before its start (clocks apart) resolved it at its start, as the receiver does.
        resolved_at = max(resolved_at, opened_at)
    return recording.NewIncident(
        service_id=service_id,
        title=alert.get("title") or row.summary or f"Alert on {row.host}",
        severity=Severity(alert.get("severity") or row.severity or Severity.MEDIUM),
        opened_at=opened_at,
        description=alert.get("description"),
        source=alert.get("source") or row.source,
        external_key=alert.get("external_key"),
        resolved_at=resolved_at,
        asset_id=asset_id,
    )


def _check(company_id: int, new: recording.NewIncident) -> None:
    """RoutingRefused if this incident would not be recorded; nothing is written."""
    try:
        recording.check(company_id, new)
    except NotFound:
        raise RoutingRefused(
            f"The service {new.service_id} the alert names is not this company's."
        ) from None
    except IncidentRefused as exc:
        raise RoutingRefused(str(exc)) from None


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


def kept_alerts(row: UnroutedAlert) -> list[dict]:
    """The row's distinct alerts to show, their times as times."""
    times = ("first_seen_at", "last_seen_at", "resolved_at")
    return [{**a, **{t: _time(a.get(t)) for t in times}} for a in alerts_of(row)]


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
