"""Changing assets: their identifiers, the services that cover them, the one that receives
their incidents; and finding the asset an alert's labels name.

Identifiers are stored folded (fold()), so a label matches one as monitoring writes it; each
folded value is unique within the company whatever its kind, so a label finds one asset at
most, and never another company's.

Seats follow devices: a service with quantity_follows_assets has as many seats as the active
assets it covers (at least one: a service always bills a seat; cancel it to stop). Every change
here that can alter that count (cover, uncover, retire, reactivate, and the bulk sync and
import) brings the quantity to the count at the end of its unit of work, through the domain
(webapp.services.actions.quantity_change, so ServiceQuantityChanged and its prorated
adjustment). A bulk sync or an import of a thousand devices is one quantity change per
service, not one per device. Separate writes on one day record separate changes (events
already recorded are never rewritten: listeners have seen them), and the bill run makes the
day's unbilled changes one adjustment (webapp.lifecycle.invoicing): several changes on one day
are one change.

Lock order (PostgreSQL; SQLite's BEGIN IMMEDIATE runs writers one at a time anyway): the
company's row (only the bulk writers take it: the sync, an import), then services in id order,
then assets in id order. Every writer here, and the incident recording (which locks the
services, then the assets it saw), takes them in that order, so none waits on another in a
circle. A writer that counts seats locks the services covering its assets before the assets
themselves, so it reads that coverage before it holds the assets; once they are locked it reads
it again (check_coverage), and if a service started covering one meanwhile (a cover() that
committed in between), it rolls back and starts over, that service locked too this time.
"""

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select

from webapp.assets.models import (
    ACTIVE,
    IDENTIFIER_KINDS,
    KINDS,
    RETIRED,
    Asset,
    AssetIdentifier,
    ServiceCoverage,
)
from webapp.clients.models import Client
from webapp.clock import utcnow
from webapp.database import chunked
from webapp.extensions import db
from webapp.lifecycle import events as ev
from webapp.lifecycle.statuses import ServiceStatus
from webapp.lifecycle.transitions import Action
from webapp.pipeline.outbox import record, unit_of_work
from webapp.services import actions as service_actions
from webapp.services.models import ClientService
from webapp.tenancy import NotFound, get_or_404

MAX_IDENTIFIER = 255  # asset_identifiers.value
# Services whose seats can still change (the transition table's sources for a seat change).
SEAT_STATUSES = (ServiceStatus.PENDING, ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)

# "host:9100", "[::1]:9100", "10.0.0.5:443": an `instance` label names a host and the port it
# was scraped on; the port says nothing about which device it is.
_PORT = re.compile(r":\d{1,5}$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def fold(kind: str, value: str | None) -> str:
    """The one normalisation of an identifier or label value: trimmed, lower case; an
    `instance` also loses its scheme, path and port ("https://Web1:9100/metrics" -> "web1",
    "[fe80::1]:9100" -> "fe80::1"). Empty when nothing is left."""
    text = (value or "").strip().lower()
    if kind == "instance" and text:
        text = _SCHEME.sub("", text).split("/", 1)[0]
        if text.startswith("["):  # an IPv6 address in brackets, with or without a port
            text = text[1:].split("]", 1)[0]
        elif text.count(":") == 1:  # a bare IPv6 address has several colons and no port
            text = _PORT.sub("", text)
    return text.strip()


def label_kind(label: str) -> str:
    """How a routing label's value is folded: `instance` carries a port, the rest do not."""
    return "instance" if label == "instance" else "hostname"


def find_by_labels(company_id: int, labels: dict, routing_labels: list[str]) -> Asset | None:
    """The asset of this company that an alert's labels name, or None.

    The routing labels are tried in the company's order (by default asset_id, instance,
    hostname, host); the first label whose folded value is a known identifier wins. An
    `asset_id` label is first taken as an identifier (an RMM id, often a number), then as the
    asset's own id: an identifier was given on purpose, an own id that equals it by chance
    must not take its alerts. A retired asset is still found: its identifiers are still its
    own, and an alert about it is better routed to its last service than lost. Another
    company's identifiers are never looked at."""
    return named_asset(
        labels,
        routing_labels,
        lambda value: identified_asset(company_id, value),
        lambda asset_id: own_asset(company_id, asset_id),
    )


A = TypeVar("A")  # an Asset, or what the alert router keeps of one


def named_asset(
    labels: dict,
    routing_labels,
    identified: Callable[[str], A | None],
    own: Callable[[int], A | None],
) -> A | None:
    """find_by_labels' rule, given how to find the asset a folded value identifies and the
    asset of an own id: the alert router (webapp.assets.routing) finds identifiers among
    those it read for a whole notification at once."""
    for value, label in label_values(labels or {}, routing_labels):
        asset = identified(value)
        if asset is not None:
            return asset
        if label == "asset_id" and value.isascii() and value.isdigit():
            asset_id = int(value)
            if 0 < asset_id < 2**31 and (asset := own(asset_id)) is not None:
                return asset
    return None


def label_values(labels: dict, routing_labels) -> Iterator[tuple[str, str]]:
    """(folded value, label) of each routing label the alert gives a value, in order: text or
    a number (not a bool), not empty once folded."""
    for label in routing_labels:
        raw = labels.get(label)
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            continue
        if value := fold(label_kind(label), str(raw)):
            yield value, label


def identified_asset(company_id: int, value: str) -> Asset | None:
    """The asset of this company whose identifier is this folded value."""
    return db.session.scalars(
        select(Asset)
        .join(AssetIdentifier, AssetIdentifier.asset_id == Asset.id)
        .where(AssetIdentifier.company_id == company_id, AssetIdentifier.value == value)
    ).first()


def own_asset(company_id: int, asset_id: int) -> Asset | None:
    return db.session.scalars(
        select(Asset).where(Asset.company_id == company_id, Asset.id == asset_id)
    ).first()


class AssetRefused(Exception):
    """A change to an asset that was not made. `field` names the input at fault, when one is;
    otherwise it is shown as a 409 with its message."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class SeatChangeRefused(AssetRefused):
    """The change would set the quantity (billing) of a service whose seats follow devices, and
    the one asking may manage assets but not change services (a technician): nothing is made."""


@dataclass(frozen=True)
class AssetFields:
    client_id: int
    name: str
    kind: str = "server"
    site: str | None = None
    operating_system: str | None = None
    notes: str | None = None
    identifiers: tuple[tuple[str, str], ...] = ()  # (kind, value) as typed; stored folded


def folded_identifiers(pairs) -> list[tuple[str, str]]:
    """(kind, folded value) pairs, each value once (the first kind given wins). AssetRefused
    (field "identifiers") for an unknown kind or a value too long to keep."""
    found: dict[str, str] = {}
    for kind, value in pairs:
        if kind not in IDENTIFIER_KINDS:
            raise AssetRefused(
                f"{kind!r} is not a kind of identifier: use {', '.join(IDENTIFIER_KINDS)}.",
                "identifiers",
            )
        folded = fold(kind, value)
        if len(folded) > MAX_IDENTIFIER:
            raise AssetRefused(
                f"An identifier is at most {MAX_IDENTIFIER} characters.", "identifiers"
            )
        if folded:
            found.setdefault(folded, kind)
    return [(kind, value) for value, kind in found.items()]


def _check(company_id: int, fields: AssetFields, asset_id: int | None) -> list[tuple[str, str]]:
    if fields.kind not in KINDS:
        raise AssetRefused(f"{fields.kind!r} is not a type of asset.", "kind")
    if not fields.name.strip():
        raise AssetRefused("Enter the asset's name.", "name")
    client = db.session.scalars(
        select(Client).where(Client.company_id == company_id, Client.id == fields.client_id)
    ).first()
    if client is None:
        raise AssetRefused("Choose one of this company's clients.", "client_id")
    identifiers = folded_identifiers(fields.identifiers)
    if identifiers:
        taken = db.session.execute(
            select(AssetIdentifier.value, Asset.name)
            .join(Asset, Asset.id == AssetIdentifier.asset_id)
            .where(
                AssetIdentifier.company_id == company_id,
                AssetIdentifier.value.in_([v for _, v in identifiers]),
                AssetIdentifier.asset_id != (asset_id or 0),
            )
            .limit(1)
        ).first()
        if taken is not None:
            raise AssetRefused(
                f"{taken.value} already names the asset {taken.name}: an identifier names "
                "one asset of the company.",
                "identifiers",
            )
    return identifiers


def _set_identifiers(asset: Asset, identifiers: list[tuple[str, str]]) -> bool:
    """Make the asset's identifiers these; whether any changed."""
    wanted = dict((value, kind) for kind, value in identifiers)
    changed = False
    for row in list(asset.identifiers):
        if row.value not in wanted:
            db.session.delete(row)
            changed = True
        elif row.kind != wanted[row.value]:
            row.kind = wanted[row.value]
            changed = True
    db.session.flush()  # the values let go of are free again before any is added back
    have = {row.value for row in asset.identifiers if row not in db.session.deleted}
    for value, kind in wanted.items():
        if value not in have:
            db.session.add(
                AssetIdentifier(
                    company_id=asset.company_id, asset_id=asset.id, kind=kind, value=value
                )
            )
            changed = True
    db.session.flush()
    db.session.expire(asset, ["identifiers"])
    return changed


def identifier_text(asset: Asset) -> str:
    return ", ".join(f"{row.kind}:{row.value}" for row in asset.identifiers)


def create_asset(company_id: int, fields: AssetFields, actor: str) -> Asset:
    with unit_of_work():
        identifiers = _check(company_id, fields, None)
        asset = Asset(company_id=company_id, status=ACTIVE, **_plain(fields))
        db.session.add(asset)
        db.session.flush()
        _set_identifiers(asset, identifiers)
        record(ev.AssetCreated(None, asset.client_id, asset.id, asset.name), company_id, actor)
    return asset


def _plain(fields: AssetFields) -> dict:
    values = dataclasses.asdict(fields)
    values.pop("identifiers")
    values["name"] = values["name"].strip()
    return values


def update_asset(company_id: int, asset_id: int, fields: AssetFields, actor: str) -> dict:
    """Save what differs; returns it ({field: [old, new]} as text), recorded in AssetUpdated.
    Moving an asset to another client is refused while services cover it (they are its
    client's)."""
    with unit_of_work():
        asset = get_or_404(Asset, company_id, asset_id, for_update=True)
        identifiers = _check(company_id, fields, asset.id)
        if fields.client_id != asset.client_id and _covering_ids(company_id, asset.id):
            raise AssetRefused(
                "Services of its client cover it: uncover it from them before moving it to "
                "another client.",
                "client_id",
            )
        changes = {}
        for name, new in _plain(fields).items():
            old = getattr(asset, name)
            if (old or None) != (new or None):
                changes[name] = [_text(old), _text(new)]
                setattr(asset, name, new)
        before = identifier_text(asset)
        if _set_identifiers(asset, identifiers):
            changes["identifiers"] = [before or None, identifier_text(asset) or None]
        if changes:
            record(ev.AssetUpdated(None, asset.client_id, asset.id, changes), company_id, actor)
    return changes


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)


def retire_asset(company_id: int, asset_id: int, actor: str, may_change_seats=True) -> bool:
    """Retire it (False if it was retired already): it stops counting as a seat of the
    services that cover it, which keep covering it, and its identifiers still find it.
    SeatChangeRefused if that would change a following service's seats and `may_change_seats`
    is false."""
    return _set_status(company_id, asset_id, actor, RETIRED, may_change_seats)


def reactivate_asset(company_id: int, asset_id: int, actor: str, may_change_seats=True) -> bool:
    return _set_status(company_id, asset_id, actor, ACTIVE, may_change_seats)


def _set_status(
    company_id: int, asset_id: int, actor: str, status: str, may_change_seats: bool
) -> bool:
    return with_coverage_locked(
        lambda: _set_status_once(company_id, asset_id, actor, status, may_change_seats)
    )


def _set_status_once(company_id, asset_id, actor, status, may_change_seats) -> bool:
    with unit_of_work():
        # Lock order: services, then the asset (see the module's docstring).
        services = _lock_services(company_id, _covering_ids(company_id, asset_id))
        asset = get_or_404(Asset, company_id, asset_id, for_update=True)
        check_coverage(company_id, [asset.id], services)
        if asset.status == status:
            return False
        asset.status = status
        asset.retired_at = utcnow() if status == RETIRED else None
        event = ev.AssetRetired if status == RETIRED else ev.AssetReactivated
        record(event(None, asset.client_id, asset.id, asset.name), company_id, actor)
        db.session.flush()
        sync_seats(company_id, services, actor, may_change_seats)
    return True


def cover(company_id: int, service_id: int, asset_id: int, actor: str) -> bool:
    """The service covers the asset from now on (False if it did already). The first service
    to cover an asset receives its incidents until someone chooses another."""
    with unit_of_work():
        # Lock order: the service, then the asset (see the module's docstring).
        (service,) = _lock_services(company_id, [service_id]) or _missing(service_id)
        asset = get_or_404(Asset, company_id, asset_id, for_update=True)
        if asset.client_id != service.client_id:
            raise AssetRefused(
                f"{asset.name} belongs to another client than {service.name}: a service "
                "covers its own client's assets."
            )
        if service.id in _covering_ids(company_id, asset.id):
            return False
        db.session.add(
            ServiceCoverage(company_id=company_id, service_id=service.id, asset_id=asset.id)
        )
        if asset.service_id is None:
            asset.service_id = service.id
        record(
            ev.ServiceCoverageChanged(service.id, asset.client_id, asset.id, asset.name, True),
            company_id,
            actor,
        )
        db.session.flush()
        sync_seats(company_id, [service], actor)
    return True


def uncover(company_id: int, service_id: int, asset_id: int, actor: str) -> bool:
    """The service no longer covers the asset (False if it did not). If it received the
    asset's incidents, the next service covering it does, or none."""
    return with_coverage_locked(lambda: _uncover_once(company_id, service_id, asset_id, actor))


def _uncover_once(company_id: int, service_id: int, asset_id: int, actor: str) -> bool:
    with unit_of_work():
        # Lock order: the services covering the asset (the next receiving one is among them:
        # writing the asset's reference to it takes a lock on it), then the asset.
        covering = _lock_services(
            company_id, sorted({service_id, *_covering_ids(company_id, asset_id)})
        )
        service = next((s for s in covering if s.id == service_id), None) or _missing(service_id)
        asset = get_or_404(Asset, company_id, asset_id, for_update=True)
        check_coverage(company_id, [asset.id], covering)
        row = db.session.scalars(
            select(ServiceCoverage).where(
                ServiceCoverage.company_id == company_id,
                ServiceCoverage.service_id == service.id,
                ServiceCoverage.asset_id == asset.id,
            )
        ).first()
        if row is None:
            return False
        db.session.delete(row)
        db.session.flush()
        if asset.service_id == service.id:
            others = _covering_ids(company_id, asset.id)
            asset.service_id = others[0] if others else None
        record(
            ev.ServiceCoverageChanged(service.id, asset.client_id, asset.id, asset.name, False),
            company_id,
            actor,
        )
        db.session.flush()
        sync_seats(company_id, [service], actor)
    return True


def set_receiving_service(
    company_id: int, asset_id: int, service_id: int | None, actor: str
) -> bool:
    """Name the service that receives the asset's incidents: one of those that cover it, or
    none (its alerts then need a service_id or service_type label). False if unchanged."""
    with unit_of_work():
        # Lock order: the service (the asset's reference to it takes a lock on it), then the
        # asset (see the module's docstring).
        if service_id is not None:
            _lock_services(company_id, [service_id])
        asset = get_or_404(Asset, company_id, asset_id, for_update=True)
        if service_id is not None and service_id not in _covering_ids(company_id, asset.id):
            raise AssetRefused(
                "Choose one of the services that cover it (cover it by the service first).",
                "service_id",
            )
        if asset.service_id == service_id:
            return False
        names = _service_names(company_id, [asset.service_id, service_id])
        changes = {"receiving_service": [names.get(asset.service_id), names.get(service_id)]}
        asset.service_id = service_id
        record(ev.AssetUpdated(None, asset.client_id, asset.id, changes), company_id, actor)
    return True


def set_quantity_follows_assets(company_id: int, service_id: int, follows: bool, actor: str):
    """Let the service's seats follow the active assets it covers (its quantity is brought to
    their count now), or be set by hand again (the quantity stays as it is). Returns the
    service."""
    with unit_of_work():
        (service,) = _lock_services(company_id, [service_id]) or _missing(service_id)
        if service.quantity_follows_assets != follows:
            service.quantity_follows_assets = follows
            db.session.flush()
            sync_seats(company_id, [service], actor)
    return service


def sync_seats(company_id: int, services, actor: str, may_change_seats=True) -> dict[int, int]:
    """In the open unit of work: bring each following service's quantity to the count of the
    active assets it covers (services locked by the caller, before the assets changed, so two
    writers count in turn). Returns {service id: new quantity} for those that changed.
    SeatChangeRefused, before any quantity changes, if one would and `may_change_seats` is
    false (the caller's unit of work then rolls the asset change back too)."""
    targets = seat_targets(company_id, services)
    if not may_change_seats:
        _refuse_seat_change(targets)
    changed = {}
    for service, target, count in targets.values():
        note = f"Seats follow devices: {count} active asset{'' if count == 1 else 's'} covered."
        service_actions.apply_change(
            service,
            Action.CHANGE_QUANTITY,
            actor,
            None,
            service_actions.quantity_change(target, note),
        )
        changed[service.id] = target
    return changed


def check_new_seat(company_id: int, service_id: int | None, may_change_seats: bool) -> None:
    """Before an active asset is made and covered by this service: SeatChangeRefused if that
    would change its seats and `may_change_seats` is false (nothing is made yet)."""
    if may_change_seats or service_id is None:
        return
    services = db.session.scalars(
        select(ClientService).where(
            ClientService.company_id == company_id, ClientService.id == service_id
        )
    ).all()
    _refuse_seat_change(seat_targets(company_id, services, added=1))


def _refuse_seat_change(targets: dict) -> None:
    if targets:
        service, target, _ = next(iter(targets.values()))
        raise SeatChangeRefused(
            f"Your role cannot transition services: the seats of {service.name} follow its "
            f"devices, so this would change its quantity from {service.quantity} to {target} "
            "(billing). Ask an account manager.",
            "service_id",
        )


def seat_targets(company_id: int, services, added: int = 0) -> dict:
    """{service id: (service, quantity it should have, active assets)} for the following services whose
    quantity differs from the count of the active assets they cover (plus `added` more, for
    asking before an asset is made)."""
    following = [s for s in services if s.quantity_follows_assets and s.status in SEAT_STATUSES]
    if not following:
        return {}
    counts = dict(
        db.session.execute(
            select(ServiceCoverage.service_id, func.count())
            .join(Asset, Asset.id == ServiceCoverage.asset_id)
            .where(
                ServiceCoverage.company_id == company_id,
                ServiceCoverage.service_id.in_([s.id for s in following]),
                Asset.status == ACTIVE,
            )
            .group_by(ServiceCoverage.service_id)
        ).all()
    )
    targets = {}
    for service in following:
        count = counts.get(service.id, 0) + added
        target = min(max(count, 1), service_actions.MAX_QUANTITY)
        if target != service.quantity:
            targets[service.id] = (service, target, count)
    return targets


def _covering_ids(company_id: int, asset_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(ServiceCoverage.service_id)
            .where(ServiceCoverage.company_id == company_id, ServiceCoverage.asset_id == asset_id)
            .order_by(ServiceCoverage.id)
        )
    )


class CoverageChanged(Exception):
    """A service started covering an asset between the moment its covering services were read
    (and locked) and the moment the asset was locked: the unit of work is rolled back and done
    again (with_coverage_locked)."""


ATTEMPTS = 5


def with_coverage_locked(once):
    """once()'s result, doing it again while it raises CoverageChanged (each time in a new
    transaction, which then locks the new service too). AssetRefused if the coverage keeps
    changing."""
    for _ in range(ATTEMPTS):
        try:
            return once()
        except CoverageChanged:
            continue
    raise AssetRefused("The services covering these assets kept changing meanwhile: try again.")


def check_coverage(company_id: int, asset_ids, services) -> None:
    """With the assets locked: CoverageChanged unless every service covering one of them is
    among `services` (locked before the assets, as the lock order says). A cover() holds the
    asset until it commits, so none can start covering one after this."""
    locked = {s.id for s in services}
    for part in chunked(sorted(set(asset_ids))):
        covering = set(
            db.session.scalars(
                select(ServiceCoverage.service_id).where(
                    ServiceCoverage.company_id == company_id, ServiceCoverage.asset_id.in_(part)
                )
            )
        )
        if not covering <= locked:
            raise CoverageChanged(sorted(covering - locked))


def _lock_services(company_id: int, ids) -> list[ClientService]:
    """The company's services among `ids`, locked in id order (the order every writer of a
    service takes them in)."""
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(ClientService)
            .where(ClientService.company_id == company_id, ClientService.id.in_(sorted(set(ids))))
            .order_by(ClientService.id)
            .with_for_update()
        )
    )


def _missing(service_id: int):
    raise NotFound(f"No ClientService {service_id} in this company.")


def _service_names(company_id: int, ids) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(ClientService.id, ClientService.name).where(
                ClientService.company_id == company_id, ClientService.id.in_(wanted)
            )
        ).all()
    )
