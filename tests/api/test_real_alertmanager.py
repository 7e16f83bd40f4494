"""Debian's Prometheus Alertmanager (prometheus-alertmanager, amtool) notifying the app's
receiver over loopback: an alert fired with `amtool alert add` opens an incident, a back-dated
one opens it at its start, an end in the past resolves it, and an end before the incident's
start (the same alert sent again with a start 10 minutes back and an end 1 minute back, as the
fault run did) resolves it at its start instead of being refused and given up on.

CI fails (not skips) when Alertmanager is missing: tools/system_packages.sh installs it.
"""

import datetime as dt
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.chaos.web_processes import Process, Processes, process_env
from tests.support.factories import active_service, make_client
from tools.embedded_redis import free_port
from webapp.accounts import api_tokens
from webapp.assets import actions as assets
from webapp.assets import unrouted
from webapp.assets.models import UnroutedAlert
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.incidents.models import Incident

pytestmark = pytest.mark.slow

ALERTMANAGER = os.environ.get("ALERTMANAGER", "prometheus-alertmanager")
AMTOOL = os.environ.get("AMTOOL", "amtool")
WAIT = 60  # seconds; Alertmanager sends within about a second here, on a busy machine later

# Every alert its own group ('...'), sent at once and every second after that; alerts are
# always given an end, so resolve_timeout never resolves one on its own.
CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: dashboard
  group_by: ['...']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: dashboard
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""


class Alertmanager(Process):
    """prometheus-alertmanager on a loopback port, its data and configuration in `directory`,
    without clustering (no gossip port)."""

    def __init__(self, directory: Path, receiver_url: str, token: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        token_file = directory / "token"
        token_file.write_text(token)
        config = directory / "alertmanager.yml"
        config.write_text(CONFIG.format(url=receiver_url, token_file=token_file))
        argv = [
            _binary(ALERTMANAGER),
            f"--config.file={config}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        super().__init__("alertmanager", argv, dict(os.environ), directory)

    def start(self) -> "Alertmanager":
        super().start()
        _wait_until(self._ready, "Alertmanager to be ready", self)
        return self

    def _ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"Alertmanager exited:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def add(self, alertname: str, start: dt.datetime, end: dt.datetime, **labels) -> None:
        """`amtool alert add`: fire it (an end ahead), or resolve it (an end in the past)."""
        argv = [
            _binary(AMTOOL),
            f"--alertmanager.url={self.url}",
            "alert",
            "add",
            f"alertname={alertname}",
            *(f"{name}={value}" for name, value in labels.items()),
            f"--annotation=summary={alertname} on {labels.get('instance', 'a host')}",
            f"--start={_rfc3339(start)}",
            f"--end={_rfc3339(end)}",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def webhook_failures(self) -> float:
        """alertmanager_notifications_failed_total for the webhook: each one a notification
        Alertmanager gave up on."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("alertmanager_notifications_failed_total")
            and 'integration="webhook"' in line
        )


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: run `make system-packages` as root, or "
            "`apt-get install --no-install-recommends prometheus-alertmanager`"
        )
    return found


def _rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait_until(condition, what: str, alertmanager: Alertmanager):
    deadline = time.monotonic() + WAIT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {WAIT} s waiting for {what}:\n{alertmanager.log()}"
            )
        time.sleep(0.2)


def _incident(title: str, resolved: bool = False) -> Incident | None:
    """The incident the receiver (in the web process) recorded, read afresh."""
    db.session.rollback()
    query = select(Incident).where(Incident.title.startswith(title))
    if resolved:
        query = query.where(Incident.resolved_at.is_not(None))
    return db.session.scalars(query).first()


def test_alertmanager_fires_back_dates_and_resolves_incidents(app, company, database_url, tmp_path):
    service = str(active_service(company))
    token = api_tokens.create(company, "alertmanager", "test")[1]
    now = utcnow().replace(microsecond=0)
    with Processes(tmp_path) as processes:
        web = processes.gunicorn(process_env(database_url, app.config["REDIS_URL"]), workers=1)
        manager = Alertmanager(tmp_path, f"{web.url}/api/v1/alertmanager", token)
        processes.started.append(manager)
        manager.start()

        def wait(title, resolved=False):
            state = "resolved" if resolved else "opened"
            return _wait_until(lambda: _incident(title, resolved), f"{title} {state}", manager)

        # Back-dated: it fired 10 minutes ago; the incident opened then.
        backup = {"service_id": service, "instance": "backup01"}
        manager.add(
            "BackupFailed", now - dt.timedelta(minutes=10), now + dt.timedelta(hours=1), **backup
        )
        incident = wait("BackupFailed")
        assert incident.opened_at == now - dt.timedelta(minutes=10)
        assert (incident.source, incident.resolved_at) == ("alertmanager", None)
        # Resolved: it ended a minute ago.
        manager.add(
            "BackupFailed", now - dt.timedelta(minutes=10), now - dt.timedelta(minutes=1), **backup
        )
        incident = wait("BackupFailed", resolved=True)
        assert incident.resolved_at == now - dt.timedelta(minutes=1)
        assert "Resolved at its start" not in (incident.description or "")

        # Finding 10: fired now, then sent again with a start 10 minutes back and an end a
        # minute back, which is before the incident's start.
        disk = {"service_id": service, "instance": "files01"}
        started = utcnow().replace(microsecond=0)
        manager.add("DiskFull", started, started + dt.timedelta(hours=1), **disk)
        opened = wait("DiskFull")
        assert opened.opened_at == started
        ended = utcnow().replace(microsecond=0) - dt.timedelta(minutes=1)
        manager.add("DiskFull", started - dt.timedelta(minutes=10), ended, **disk)
        incident = wait("DiskFull", resolved=True)
        assert incident.id == opened.id
        assert incident.resolved_at == started
        assert f"the reported end ({ended:%Y-%m-%d %H:%M:%S} UTC)" in incident.description

        # Alertmanager gave up on nothing, and nothing else was opened.
        assert manager.webhook_failures() == 0, manager.log()
        assert "Notify success" in manager.log(last=200_000)
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(Incident)) == 2


def test_alerts_with_only_an_instance_find_their_service_and_unknown_hosts_wait_for_routing(
    app, company, database_url, tmp_path
):
    """Issue 17: no service_id anywhere, only `instance` and `severity` labels."""
    client_id = make_client(company, name="Acme", email=None)
    service = active_service(company, client_id, name="Backup")
    fields = assets.AssetFields(client_id, "backup01", identifiers=(("instance", "backup01"),))
    backup01 = assets.create_asset(company, fields, "test").id
    assets.cover(company, service, backup01, "test")
    files02 = assets.create_asset(company, assets.AssetFields(client_id, "files02"), "test").id
    assets.cover(company, service, files02, "test")
    token = api_tokens.create(company, "alertmanager", "test")[1]
    now = utcnow().replace(microsecond=0)
    later = now + dt.timedelta(hours=1)
    with Processes(tmp_path) as processes:
        web = processes.gunicorn(process_env(database_url, app.config["REDIS_URL"]), workers=1)
        manager = Alertmanager(tmp_path, f"{web.url}/api/v1/alertmanager", token)
        processes.started.append(manager)
        manager.start()

        def wait(title, resolved=False):
            state = "resolved" if resolved else "opened"
            return _wait_until(lambda: _incident(title, resolved), f"{title} {state}", manager)

        # A known host: the incident opens on the asset's service, with the asset on it.
        known = {"instance": "BACKUP01:9100", "severity": "critical"}
        began = now - dt.timedelta(minutes=10)
        manager.add("BackupFailed", began, later, **known)
        incident = wait("BackupFailed")
        assert (incident.service_id, incident.asset_id) == (service, backup01)
        assert incident.severity.value == "critical"
        manager.add("BackupFailed", began, now - dt.timedelta(minutes=1), **known)
        resolved = wait("BackupFailed", resolved=True)
        assert (resolved.id, resolved.resolved_at) == (incident.id, now - dt.timedelta(minutes=1))

        # An unknown host: kept, listed, not lost.
        unknown = {"instance": "files02:9100", "severity": "warning"}
        manager.add("DiskFull", now, later, **unknown)
        row = _wait_until(lambda: _unrouted("files02"), "files02 kept as unrouted", manager)
        assert row.labels == {"alertname": "DiskFull", **unknown}
        assert _incident("DiskFull") is None

        # Routed by a technician: the incident opens; the next alert goes straight through.
        _, opened = unrouted.route(company, row.id, files02, "technician")
        assert _incident("DiskFull").id == opened
        manager.add("MemoryLow", now, later, **unknown)
        memory = wait("MemoryLow")
        assert (memory.service_id, memory.asset_id) == (service, files02)

        assert manager.webhook_failures() == 0, manager.log()
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(UnroutedAlert)) == 1


def _unrouted(host: str) -> UnroutedAlert | None:
    db.session.rollback()
    return db.session.scalars(select(UnroutedAlert).filter_by(host=host)).first()
