"""Demo data: the devices behind the demo's services, and alerts that find them by host.

Each client has an inventory (servers, workstations, a firewall, its Microsoft 365 tenant and
some mailboxes), each known by the identifiers monitoring and an RMM use: a hostname, a
Prometheus `instance`, a serial, an RMM id. A service covers the devices its kind is about
(backup the servers, Microsoft 365 the tenant and the mailboxes...) from the day it is
provisioned. One Endpoint Protection service's seats follow the devices it covers: a
workstation is added and another retired during the year, so its invoices carry the prorated
adjustments. Some incidents come from Alertmanager alerts that name only an `instance`, routed
by host; two alerts about hosts nobody has recorded yet are left for a technician to route.

Everything goes through the domain (webapp.assets.actions, the Alertmanager receiver), with
its own random generator: the rest of the demo's history is the same with or without it."""

import datetime as dt
import random

from sqlalchemy import select

from webapp.api import alertmanager
from webapp.assets import actions as assets
from webapp.assets.models import Asset
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import ServiceStatus
from webapp.services.models import ClientService

# Which devices each kind of service covers, and how much it wants to receive their incidents
# (the covering service with the highest rank receives them).
COVERS = {
    "monitoring": ({"server", "network_device"}, 3),
    "firewall": ({"network_device"}, 4),
    "backup": ({"server"}, 2),
    "m365": ({"cloud_tenant", "mailbox"}, 3),
    "security": ({"workstation", "server"}, 1),
    "helpdesk": ({"workstation"}, 2),
}
FOLLOWING_KIND = "security"  # its seats follow the devices it covers
SERVERS = [
    ("dc01", "Windows Server 2022"),
    ("fs01", "Windows Server 2019"),
    ("app01", "Ubuntu 22.04"),
]
MAILBOXES = ["reception", "accounts", "director"]
# (alertname, summary, severity) of the alerts that reach incidents by their instance label,
# by the kind of device they are about.
ALERTS = {
    "server": [
        ("NodeFilesystemAlmostFull", "Disk {pct}% full on {host}", "warning"),
        ("WindowsServiceDown", "Backup agent service stopped on {host}", "critical"),
        ("HostHighCpuLoad", "CPU above 90% for 15 minutes on {host}", "warning"),
        ("NodeDown", "{host} is not answering", "critical"),
    ],
    "network_device": [
        ("SnmpInterfaceDown", "WAN interface down on {host}", "critical"),
        ("FirewallSessionsHigh", "Sessions at {pct}% of the limit on {host}", "warning"),
    ],
}
# Hosts monitoring knows and nobody has recorded as assets: left unrouted.
UNKNOWN_HOSTS = [
    ("nas02.{domain}.lan:9100", "NodeFilesystemAlmostFull", "Disk 93% full on nas02", "warning"),
    ("10.{net}.0.23:9182", "WindowsServiceDown", "Print spooler stopped on 10.{net}.0.23", "high"),
]


class Fleet:
    """The demo's assets: made per client, covered as its services are provisioned."""

    def __init__(self, company_id: int, actor: str, rng: random.Random):
        self.company_id = company_id
        self.actor = actor
        self.rng = rng
        self.by_client: dict[int, list[Asset]] = {}
        self.domains: dict[int, str] = {}
        self.receiving: dict[int, int] = {}  # asset id -> rank of its receiving service
        self.serial = 1000
        self.following: int | None = None  # the service whose seats follow its devices

    def inventory(self, client_id: int, client_name: str, n: int) -> None:
        """A client's devices, each with the identifiers monitoring and the RMM know it by."""
        domain = self.domains[client_id] = client_name.split()[0].lower()
        made = []
        for name, system in SERVERS[: 1 + n % 3]:
            made.append(
                self._make(
                    client_id,
                    f"{name}.{domain}.lan",
                    "server",
                    system,
                    ("hostname", f"{name}-{domain}"),
                    ("instance", f"{name}.{domain}.lan:9100"),
                )
            )
        for w in range(1, 4 + n % 3):
            host = f"{domain}-ws{w:02d}"
            made.append(
                self._make(client_id, host, "workstation", "Windows 11", ("hostname", host))
            )
        made.append(
            self._make(
                client_id,
                f"Firewall {client_name.split()[0]}",
                "network_device",
                "FortiOS 7.4",
                ("instance", f"10.{10 + n}.0.1"),
            )
        )
        made.append(
            self._make(
                client_id,
                f"{domain}.onmicrosoft.com",
                "cloud_tenant",
                None,
                ("other", f"{domain}.onmicrosoft.com"),
            )
        )
        for box in MAILBOXES[: 2 + n % 2]:
            address = f"{box}@{domain}.example"
            made.append(self._make(client_id, address, "mailbox", None, ("other", address)))
        self.by_client[client_id] = made

    def _make(self, client_id, name, kind, system, *identifiers) -> Asset:
        self.serial += 1
        extra = [("rmm_id", f"ninja-{self.serial}")]
        if kind in ("server", "workstation", "network_device"):
            extra.append(("serial", f"CZ{self.rng.randint(10**7, 10**8 - 1)}"))
        fields = assets.AssetFields(
            client_id=client_id,
            name=name,
            kind=kind,
            site="Head office",
            operating_system=system,
            identifiers=(*identifiers, *extra),
        )
        return assets.create_asset(self.company_id, fields, self.actor)

    def provisioned(self, client_id: int, service_id: int, kind: str, follows: bool) -> None:
        """The new service covers its kind's devices of its client; the one chosen to follow
        them takes its seats from them from now on."""
        covered, rank = COVERS.get(kind, (set(), 0))
        for asset in self.by_client.get(client_id, []):
            if asset.kind not in covered:
                continue
            assets.cover(self.company_id, service_id, asset.id, self.actor)
            if rank > self.receiving.get(asset.id, 0):
                assets.set_receiving_service(self.company_id, asset.id, service_id, self.actor)
                self.receiving[asset.id] = rank
        if follows:
            self.following = service_id
            assets.set_quantity_follows_assets(self.company_id, service_id, True, self.actor)

    def add_workstation(self, client_id: int, service_id: int) -> None:
        """A new starter's laptop, covered by the service whose seats follow its devices."""
        host = f"{self.domains[client_id]}-lt01"
        laptop = self._make(client_id, host, "workstation", "Windows 11", ("hostname", host))
        self.by_client[client_id].append(laptop)
        assets.cover(self.company_id, service_id, laptop.id, self.actor)

    def retire_workstation(self, client_id: int) -> None:
        """The oldest workstation is scrapped: the seats it took go with it."""
        first = next(a for a in self.by_client[client_id] if a.kind == "workstation")
        assets.retire_asset(self.company_id, first.id, self.actor)

    def alert(self, n: int, resolved_after: dt.timedelta | None) -> None:
        """An Alertmanager alert naming only a device's instance, routed by host to the service
        receiving its incidents; resolved a little later, when it is."""
        hosts = self._routable()
        if not hosts:
            return
        asset_id, instance, kind = self.rng.choice(hosts)
        alertname, summary, severity = self.rng.choice(ALERTS[kind])
        host = instance.split(":")[0]
        started = utcnow() - dt.timedelta(hours=self.rng.randint(2, 5))
        raw = _alert(
            f"demo{n:04d}{asset_id:06d}",
            alertname,
            summary.format(host=host, pct=self.rng.randint(88, 97)),
            severity,
            instance,
            started,
        )
        alertmanager.receive(self.company_id, [raw], None, self.actor, 100)
        if resolved_after is not None:
            raw = {**raw, "status": "resolved", "endsAt": _rfc3339(started + resolved_after)}
            alertmanager.receive(self.company_id, [raw], None, self.actor, 100)

    def _routable(self) -> list[tuple[int, str, str]]:
        """(asset id, instance, kind) of the devices with an instance whose receiving service takes
        incidents now, in a fixed order."""
        taking = set(
            db.session.scalars(
                select(ClientService.id).where(
                    ClientService.company_id == self.company_id,
                    ClientService.status == ServiceStatus.ACTIVE,
                )
            )
        )
        found = []
        for made in self.by_client.values():
            for asset in made:
                db.session.refresh(asset)
                instance = next((i.value for i in asset.identifiers if i.kind == "instance"), None)
                if instance and asset.service_id in taking and asset.status == "active":
                    found.append((asset.id, f"{instance}:9100", asset.kind))
        return sorted(found)

    def unrouted(self) -> None:
        """Alerts about hosts no asset has yet: kept, counted, waiting for a technician."""
        for n, client_id in enumerate(list(self.domains)[: len(UNKNOWN_HOSTS)]):
            instance, alertname, summary, severity = UNKNOWN_HOSTS[n]
            net = 10 + n  # the client's own network (its firewall is 10.<net>.0.1)
            raw = _alert(
                f"demo-unrouted-{n}",
                alertname,
                summary.format(net=net),
                severity,
                instance.format(domain=self.domains[client_id], net=net),
                utcnow() - dt.timedelta(minutes=40 * (n + 1)),
            )
            alertmanager.receive(self.company_id, [raw], None, self.actor, 100)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _alert(fingerprint, alertname, summary, severity, instance, started) -> dict:
    """One alert as Alertmanager's webhook sends it: no service_id, only its instance."""
    return {
        "status": "firing",
        "labels": {
            "alertname": alertname,
            "instance": instance,
            "job": "node",
            "severity": severity,
        },
        "annotations": {"summary": summary},
        "startsAt": _rfc3339(started),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={alertname}",
        "fingerprint": fingerprint,
    }
