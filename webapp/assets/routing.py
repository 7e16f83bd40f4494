"""Which service an alert's incident goes to, found from its labels.

Monitoring knows hosts, not our service ids. The company's routing labels (by default
asset_id, instance, hostname, host) are tried in order to find the asset
(webapp.assets.actions.find_by_labels); its incident goes to the asset's receiving service
unless the alert names another: a `service_id` label (that service, as before assets), or a
`service_type` label (the asset's covering service of that type). A receiving service that no
longer takes incidents (cancelled, expired) gives way to another covering service that does.
An alert is not refused for want of a service: whose host matches no asset, or whose asset
has no service to take it (none receives its incidents, none of the `service_type` asked
for covers it), the caller keeps it as unrouted (webapp.assets.unrouted) under its host, the
folded value of the first routing label it carries.
"""

import re
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.assets.actions import (
    fold,
    identified_asset,
    label_kind,
    label_values,
    named_asset,
    own_asset,
)
from webapp.assets.models import Asset, AssetIdentifier, ServiceCoverage
from webapp.company.models import Company
from webapp.database import chunked
from webapp.extensions import db
from webapp.lifecycle.statuses import ServiceStatus
from webapp.services.models import ClientService
from webapp.tenancy import MAX_ID

DEFAULT_ROUTING_LABELS = ("asset_id", "instance", "hostname", "host")
# Prometheus's label names; a name starting with two underscores is reserved for its internals.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_ROUTING_LABELS = 8
PREFETCH_CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's limits
# Labels that choose the service themselves: naming the asset by them would be a mistake.
SERVICE_LABELS = ("service_id", "service_type")
# A covering service that takes incidents is preferred over one that does not (webapp.sla).
TAKES_INCIDENTS = (ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)


class RouteRefused(ValueError):
    """The alert names its asset or service in a way that cannot be used; the message says why."""


class NoCoveringService(RouteRefused):
    """No service of the type a `service_type` label asks for covers the asset."""


def parse_routing_labels(text: str) -> tuple[str, ...]:
    """ "asset_id, instance,host" -> ("asset_id", "instance", "host"); ValueError with a message
    to show when it is not a list of label names."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not names:
        raise ValueError("Enter at least one label name, such as instance,hostname.")
    for name in names:
        if not LABEL_NAME.match(name) or name.startswith("__") or len(name) > 60:
            raise ValueError(
                f"“{name[:60]}” is not a label name: letters, digits and underscores, "
                "not starting with a digit or two underscores."
            )
        if name in SERVICE_LABELS:
            raise ValueError(f"{name} chooses the service itself; it cannot name the asset.")
    if len(set(names)) != len(names):
        raise ValueError("Name each label once.")
    if len(names) > MAX_ROUTING_LABELS:
        raise ValueError(f"At most {MAX_ROUTING_LABELS} labels.")
    if len(",".join(names)) > 200:  # Company.routing_labels
        raise ValueError("The list is too long: at most 200 characters.")
    return tuple(names)


def routing_labels(company_id: int) -> tuple[str, ...]:
    stored = db.session.scalar(select(Company.routing_labels).where(Company.id == company_id))
    try:
        return parse_routing_labels(stored or "")
    except ValueError:
        # Saved through Settings, so always valid; a hand-edited row still routes.
        return DEFAULT_ROUTING_LABELS


@dataclass(frozen=True)
class Route:
    """Where an alert's incident goes. No service: the caller's fallback, else unrouted."""

    service_id: int | None
    asset_id: int | None
    # The folded value of the first routing label the alert carries, and which label it was:
    # what an unrouted alert is kept under and later remembered as.
    host: str | None = None
    host_label: str | None = None


def host_of(labels: dict[str, str], order) -> tuple[str, str] | tuple[None, None]:
    for label in order:
        value = labels.get(label)
        if isinstance(value, str) and (folded := fold(label_kind(label), value)):
            return folded[:255], label  # UnroutedAlert.host
    return None, None


def explicit_service_id(labels: dict[str, str]) -> int | None:
    """The `service_id` label's service, if the alert names one."""
    value = (labels.get("service_id") or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise RouteRefused(f"The service_id label {value!r} is not a service id.")
    return int(value)


@dataclass(frozen=True)
class Found:
    """What routing needs of an asset, kept past the commits between a request's alerts."""

    id: int
    name: str
    service_id: int | None
    client_id: int | None = None

    @classmethod
    def of(cls, asset: Asset | None) -> "Found | None":
        if asset is None:
            return None
        return cls(asset.id, asset.name, asset.service_id, asset.client_id)


def service_for(company_id: int, asset: Found | Asset, labels: dict[str, str]) -> int | None:
    """The service an alert about this asset goes to: a `service_id` label's, else the asset's
    covering service of the `service_type` label's type, else its receiving service."""
    explicit = explicit_service_id(labels)
    if explicit is not None:
        return explicit
    wanted = (labels.get("service_type") or "").strip()
    if not wanted:
        return receiving_service(company_id, asset)
    covering = db.session.execute(
        select(ClientService.id, ClientService.status)
        .join(ServiceCoverage, ServiceCoverage.service_id == ClientService.id)
        .where(
            ServiceCoverage.company_id == company_id,
            ServiceCoverage.asset_id == asset.id,
            ClientService.company_id == company_id,
            func.lower(ClientService.service_type) == wanted.lower(),
        )
        .order_by(ClientService.id)
    ).all()
    if not covering:
        raise NoCoveringService(
            f"No {wanted[:60]!r} service covers the asset {asset.name}: cover it with one, or "
            "drop the service_type label to use its receiving service."
        )
    taking = [sid for sid, status in covering if status in TAKES_INCIDENTS]
    return (taking or [covering[0][0]])[0]


def receiving_service(company_id: int, asset: Found | Asset) -> int | None:
    """The asset's receiving service while it takes incidents; once it does not (cancelled,
    expired), the first other covering service that does; else None (kept as unrouted)."""
    if asset.service_id is None:
        return None
    rows = db.session.execute(
        select(ClientService.id, ClientService.status)
        .join(ServiceCoverage, ServiceCoverage.service_id == ClientService.id)
        .where(
            ServiceCoverage.company_id == company_id,
            ServiceCoverage.asset_id == asset.id,
            ClientService.company_id == company_id,
        )
        .order_by(ServiceCoverage.id)
    ).all()
    return _receiving_among(asset.service_id, rows)


def _receiving_among(service_id: int, rows) -> int | None:
    """receiving_service's choice among the asset's covering (service id, status), in the
    order they started covering it."""
    status = dict(rows)
    if status.get(service_id) in TAKES_INCIDENTS:
        return service_id
    return next((sid for sid, st in rows if st in TAKES_INCIDENTS), None)


class Router:
    """Routes the alerts of one request: the company's labels are read once, and each asset
    looked up once however many alerts name it (a storm names few hosts many times)."""

    def __init__(self, company_id: int):
        self.company_id = company_id
        self.order = routing_labels(company_id)
        self._assets: dict[tuple, Found | None] = {}
        self._receiving: dict[int, int | None] = {}
        self._clients: dict[int, int | None] = {}  # service id -> its client
        self._identifiers: dict[str, Found | None] = {}  # folded value -> its asset (prefetch)

    def prefetch(self, label_sets) -> None:
        """Look up at once the assets a request's alerts name and their receiving services:
        a few queries for a notification of hundreds of alerts, instead of two per alert."""
        values = set()
        for labels in label_sets:
            if isinstance(labels, dict):
                values.update(v for v, _ in self._values(labels))
        wanted = sorted(values - self._identifiers.keys())
        for part in chunked(wanted, PREFETCH_CHUNK):
            for value, *asset in db.session.execute(
                select(
                    AssetIdentifier.value, Asset.id, Asset.name, Asset.service_id, Asset.client_id
                )
                .join(Asset, Asset.id == AssetIdentifier.asset_id)
                .where(AssetIdentifier.company_id == self.company_id)
                .where(AssetIdentifier.value.in_(part))
            ):
                self._identifiers[value] = Found(*asset)
        for value in wanted:
            self._identifiers.setdefault(value, None)
        found = {a.id: a for a in self._identifiers.values() if a is not None}
        need = sorted(i for i, a in found.items() if i not in self._receiving and a.service_id)
        covering: dict[int, list] = {i: [] for i in need}
        for part in chunked(need, PREFETCH_CHUNK):
            # Sorted here, not by ORDER BY: with it SQLite walks the company's whole coverage
            # in id order instead of looking each asset up in its index.
            rows = db.session.execute(
                select(
                    ServiceCoverage.id,
                    ServiceCoverage.asset_id,
                    ClientService.id,
                    ClientService.status,
                )
                .join(ClientService, ServiceCoverage.service_id == ClientService.id)
                .where(
                    ServiceCoverage.company_id == self.company_id,
                    ServiceCoverage.asset_id.in_(part),
                    ClientService.company_id == self.company_id,
                )
            ).all()
            for _, asset_id, service_id, status in sorted(rows):
                covering[asset_id].append((service_id, status))
        for asset_id, rows in covering.items():
            self._receiving[asset_id] = _receiving_among(found[asset_id].service_id, rows)
        for asset_id, asset in found.items():
            if asset.service_id is None:
                self._receiving[asset_id] = None

    def _values(self, labels: dict):
        """(folded value, label) of the routing labels the alert carries, in order."""
        for value, label in label_values(labels, self.order):
            # A NUL is refused with its alert, later; PostgreSQL would refuse the whole lookup.
            if "\x00" not in value:
                yield value, label

    def route(self, labels: dict[str, str], fallback: int | None = None) -> Route:
        """Where this alert's incident goes: by its labels, else to `fallback` (a receiver's
        own service); RouteRefused when its labels cannot be used."""
        asset = self.asset(labels)
        if asset is None:
            host, host_label = host_of(labels, self.order)
            return Route(explicit_service_id(labels) or fallback, None, host, host_label)
        try:
            chosen = self._service(asset, labels)
        except NoCoveringService:
            chosen = None  # the type asked for is not there: kept, not sent elsewhere
            fallback = None
        service_id = chosen or fallback
        if service_id is None:
            # Known host, no service to take it: kept as unrouted, never refused.
            host, host_label = host_of(labels, self.order)
            return Route(None, asset.id, host, host_label)
        # A service covering the asset is of its client (cover() sees to it); one a service_id
        # label or the receiver named may be another client's: the incident is that
        # service's, and the asset's page must not list it.
        covering = chosen is not None and explicit_service_id(labels) is None
        if not covering and not self.same_client(service_id, asset):
            return Route(service_id, None)
        return Route(service_id, asset.id)

    def same_client(self, service_id: int, asset: Found) -> bool:
        if service_id not in self._clients:
            self._clients[service_id] = db.session.scalar(
                select(ClientService.client_id).where(
                    ClientService.company_id == self.company_id, ClientService.id == service_id
                )
            )
        # An unknown service is refused later, where the incident is recorded.
        found = self._clients[service_id]
        return found is None or asset.client_id is None or found == asset.client_id

    def _service(self, asset: Found, labels: dict[str, str]) -> int | None:
        if explicit_service_id(labels) is not None or (labels.get("service_type") or "").strip():
            return service_for(self.company_id, asset, labels)
        if asset.id not in self._receiving:  # one look per asset a request names
            self._receiving[asset.id] = receiving_service(self.company_id, asset)
        return self._receiving[asset.id]

    def asset(self, labels: dict[str, str]) -> Found | None:
        key = tuple(labels.get(label) for label in self.order)
        if key not in self._assets:
            self._assets[key] = self._prefetched(labels) if any(key) else None
        return self._assets[key]

    def _prefetched(self, labels: dict) -> Found | None:
        """find_by_labels' answer (its rule: named_asset), the identifiers taken from what
        prefetch() read: no query for an alert whose values it read, unless an `asset_id` that
        identifies nothing may be an asset's own id."""
        return named_asset(
            labels,
            self.order,
            self._identified,
            lambda asset_id: Found.of(own_asset(self.company_id, asset_id)),
        )

    def _identified(self, value: str) -> Found | None:
        if value not in self._identifiers:  # not read by prefetch(): looked up, once
            self._identifiers[value] = Found.of(identified_asset(self.company_id, value))
        return self._identifiers[value]

    def host(self, labels: dict[str, str]) -> str | None:
        return host_of(labels, self.order)[0]
