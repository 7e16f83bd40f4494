"""Ingest: incidents per second through the API, beside an authenticated GET under the same load.

gunicorn (two workers, as `make run`) serves a private copy of the scale database; locust
(bench/ingest_load.py) sends a prepared list of requests from a process of its own, with the
same number of users, each sending its next request when answered (a closed loop):

  baseline      GET /api/v1/incidents/ID: the token's lookup and one indexed read
  incidents     POST /api/v1/incidents, one incident each, with an external_id and opened in
                the past (1 hour to 7 days ago), so the SLA check records the warnings and
                breaches passed meanwhile and their events go through the outbox to Redis
  alertmanager  POST /api/v1/alertmanager, notifications of BATCH firing alerts each, as
                Alertmanager sends a storm of one alertname grouped together, each alert
                naming its service by a service_id label
  routed        the same notifications (the same services, new fingerprints) whose alerts
                carry no service_id, only an `instance` label: each is routed by host to the
                asset behind its service (webapp.assets.routing). Every active service has an
                asset (added in bulk before the run: an instance and an RMM id each), so both
                phases run against the same identifiers, and the ratio of the two rates is the
                cost of routing

Nothing drains the queues meanwhile (no RQ worker runs): what is measured is the ingest.
The gunicorn workers' CPU time per incident is reported beside the rates: on a machine whose
cores are shared with the load generator (and other people's runs), it is the steadier figure.
Afterwards the database is read to check that every incident posted was recorded once and
that each breach mark came with its one ServiceSLABreached event, published to Redis.
"""

import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from bench import growth
from bench.harness import (
    ROOT,
    Gunicorn,
    app_on,
    peak_rss_mb,
    percentile,
    redis_server,
    scale_database,
    workdir,
)
from webapp.accounts import api_tokens
from webapp.demo.scale_assets import add_assets
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import ServiceStatus
from webapp.pipeline.models import DomainEvent
from webapp.services.models import ClientService

USERS = 4  # concurrent clients: two per gunicorn worker, so neither waits on the network
BATCH = 25  # alerts per Alertmanager notification
SIZES = {
    False: {"services": 2_000, "requests": 600, "run_time": 60},
    True: {"services": 100_000, "requests": 6_000, "run_time": 300},
}
ALLOWANCE = "1000000 per minute"
WARM_UP = 50  # unmeasured GETs first: each worker's first requests pay for lazy imports
SEVERITIES = ["critical", "high", "high", "medium", "medium", "medium", "low", "low"]
ALERTNAMES = ["HostDown", "BackupJobFailed", "DiskWillFillIn4Hours", "CertificateExpiring"]


def measure(
    full: bool,
    requests: int | None = None,
    services: int | None = None,
    growth_from: int | None = growth.GROWTH_FROM,
) -> dict:
    """The full run measures again at growth_from services, with as many requests
    (bench.growth): the rates and CPU per incident as the services grow."""
    size = {**SIZES[full]}
    size["requests"] = requests or size["requests"]
    size["services"] = services or size["services"]
    result = _measure(size)
    if growth.wanted(full, size["services"], growth_from):
        result["smaller"] = _measure({**size, "services": growth_from})
        result["growth"] = growth.figures(
            growth_from, size["services"], _figures(result["smaller"]), _figures(result)
        )
    return result


def _measure(size: dict) -> dict:
    tmp = workdir("ingest")
    try:
        scale = scale_database(size["services"], tmp)
        with redis_server() as redis:
            token, service_ids, incident_ids, before, hosts = _prepare(scale, redis.url)
            rng = random.Random(1)
            n = size["requests"]
            posts = max(1, n // BATCH)
            plans = {
                "baseline": _gets(rng, incident_ids, n),
                "incidents": _incidents(rng, service_ids, n),
                # The same draws for both: the same services, severities and start times.
                "alertmanager": _notifications(random.Random(2), service_ids, posts),
                "routed": _notifications(random.Random(2), service_ids, posts, hosts),
            }
            # The token's allowance stays on (its cost is part of every request), above what
            # the run sends: at the default 600 a minute, the run would measure 429s.
            with Gunicorn(scale.url, redis.url, workers=2, API_RATE_LIMIT=ALLOWANCE) as web:
                _load(web.url, token, _gets(rng, incident_ids, WARM_UP), tmp, size["run_time"])
                phases, cpu = {}, {}
                for name, plan in plans.items():
                    server, client = _cpu_seconds(web), _children_cpu_seconds()
                    phases[name] = _load(web.url, token, plan, tmp, size["run_time"])
                    cpu[name] = {
                        "server_s": _cpu_seconds(web) - server,
                        "load_generator_s": _children_cpu_seconds() - client,
                    }
                rss = {
                    "workers": [round(peak_rss_mb(pid), 1) for pid in web.worker_pids()],
                    "master": round(peak_rss_mb(web.process.pid), 1),
                }
            checked = _verify(scale, redis.url, before)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {name: {**_summary(phase), **cpu[name]} for name, phase in phases.items()}
    results["incidents"]["incidents"] = results["incidents"]["ok"]
    for name in ("alertmanager", "routed"):
        results[name]["incidents"] = sum(
            json.loads(body)["opened"] for _, _, status, body in phases[name] if status == 200
        )
    for name in ("incidents", "alertmanager", "routed"):
        r = results[name]
        r["incidents_per_s"] = r["incidents"] / r["seconds"] if r["seconds"] else 0.0
    return {
        "services": size["services"],
        "users": USERS,
        "alerts_per_notification": BATCH,
        **results,
        "posted": {
            "incidents": len(plans["incidents"]),
            "alerts": BATCH * len(plans["alertmanager"]),
            "routed_alerts": BATCH * len(plans["routed"]),
        },
        "assets": len(hosts),
        "database": checked,
        "peak_rss_mb": rss,
    }


def _prepare(scale, redis_url):
    """A token for the scale company, its active services, some of its incidents, the
    highest ids before the run (what is above them afterwards was made by the run), and the
    host of the asset behind each active service."""
    company = scale.summary.company_id
    with app_on(scale.url, redis_url):
        _, token = api_tokens.create(company, "bench-ingest", "bench")
        services = db.session.execute(
            select(ClientService.id, ClientService.client_id).where(
                ClientService.company_id == company,
                ClientService.status == ServiceStatus.ACTIVE,
            )
        ).all()
        service_ids = [service_id for service_id, _ in services]
        hosts = add_assets(company, services)
        incident_ids = list(
            db.session.scalars(
                select(Incident.id).where(Incident.company_id == company).limit(1000)
            )
        )
        before = {
            "incident": db.session.scalar(select(func.max(Incident.id))) or 0,
            "event": db.session.scalar(select(func.max(DomainEvent.id))) or 0,
        }
    return token, service_ids, incident_ids, before, hosts


def _gets(rng, incident_ids, n):
    return [["GET", f"/api/v1/incidents/{rng.choice(incident_ids)}", None] for _ in range(n)]


def _opened(rng) -> str:
    """1 hour to 7 days ago: most incidents have passed a target, some only a warning."""
    ago = dt.timedelta(minutes=rng.randint(60, 7 * 24 * 60))
    return (dt.datetime.now(dt.UTC) - ago).isoformat(timespec="seconds").replace("+00:00", "Z")


def _incidents(rng, service_ids, n):
    plan = []
    for i in range(n):
        body = {
            "service_id": rng.choice(service_ids),
            "title": f"Backup job failed on backup{i % 97:02d}",
            "severity": rng.choice(SEVERITIES),
            "opened_at": _opened(rng),
            "description": "Nightly backup did not finish; last good copy is 26 hours old.",
            "external_id": f"bench-ingest-{i}",
        }
        plan.append(["POST", "/api/v1/incidents", json.dumps(body)])
    return plan


def _notifications(rng, service_ids, n, hosts=None):
    """Alertmanager webhook bodies (version 4) of BATCH firing alerts of one alertname. Given
    the hosts of the services' assets, the alerts name only the instance (routed); else a
    service_id label and an instance no asset has."""
    plan = []
    for g in range(n):
        alertname = ALERTNAMES[g % len(ALERTNAMES)]
        severity = rng.choice(["critical", "warning", "error", "info"])
        alerts = []
        for a in range(BATCH):
            service_id = rng.choice(service_ids)
            instance = f"host{rng.randint(1, 400):03d}.client.example:9100"
            labels = {"alertname": alertname, "service_id": str(service_id)}
            if hosts is not None:
                instance = f"{hosts[service_id]}:9100"
                labels = {"alertname": alertname}
            alerts.append(
                {
                    "status": "firing",
                    "labels": {**labels, "severity": severity, "instance": instance, "job": "node"},
                    "annotations": {
                        "summary": f"{alertname} on {instance}",
                        "description": f"{instance} has matched {alertname} for 5 minutes.",
                    },
                    "startsAt": _opened(rng),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={alertname}",
                    "fingerprint": f"{'r' if hosts else 'g'}{g:07x}{a:08x}",
                }
            )
        body = {
            "version": "4",
            "status": "firing",
            "receiver": "msp-dashboard",
            "groupKey": f'{{}}:{{alertname="{alertname}"}}',
            "truncatedAlerts": 0,
            "groupLabels": {"alertname": alertname},
            "commonLabels": {"alertname": alertname, "severity": severity, "job": "node"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": alerts,
        }
        plan.append(["POST", "/api/v1/alertmanager", json.dumps(body)])
    return plan


def _load(url, token, plan, tmp, run_time) -> list:
    """Send the plan from a locust process; what it answered, per request."""
    requests, out = Path(tmp) / "requests.json", Path(tmp) / "answered.json"
    requests.write_text(json.dumps(plan))
    out.unlink(missing_ok=True)
    env = {
        "INGEST_REQUESTS": str(requests),
        "INGEST_OUT": str(out),
        "INGEST_TOKEN": token,
        "INGEST_KEEP_BODY": "1" if "alertmanager" in plan[0][1] else "0",
    }
    log = Path(tmp) / "locust.log"
    with log.open("a") as log_file:
        subprocess.run(
            [
                *(sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "ingest_load.py")),
                *("--headless", "--only-summary", "--loglevel", "WARNING"),
                *("--users", str(USERS), "--spawn-rate", str(USERS)),
                *("--run-time", f"{run_time}s", "--host", url),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=run_time + 60,
        )
    if not out.exists():
        raise RuntimeError(f"locust wrote no results; see {log}:\n{log.read_text()[-2000:]}")
    return json.loads(out.read_text())


def _cpu_seconds(web) -> float:
    """CPU time the gunicorn workers have used (user and system)."""
    import psutil

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in web.worker_pids())


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children: the locust runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _summary(answered: list) -> dict:
    latencies = sorted(latency for _, latency, _, _ in answered)
    ends = [start + latency / 1000 for start, latency, _, _ in answered]
    seconds = max(ends) - min(start for start, _, _, _ in answered) if answered else 0.0
    ok = sum(1 for _, _, status, _ in answered if 200 <= status < 300)
    return {
        "requests": len(answered),
        "ok": ok,
        "errors": len(answered) - ok,
        "seconds": seconds,
        "requests_per_s": len(answered) / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
    }


def _verify(scale, redis_url, before) -> dict:
    """What the database holds after the run: incidents made, their marks and their events."""
    found = {}
    with app_on(scale.url, redis_url):
        new = Incident.id > before["incident"]
        for source in ("api", "alertmanager"):
            mine = (new, Incident.source == source)
            found[source] = {
                "incidents": db.session.scalar(select(func.count()).where(*mine)),
                "distinct_keys": db.session.scalar(
                    select(func.count(func.distinct(Incident.external_key))).where(*mine)
                ),
                "response_breached": db.session.scalar(
                    select(func.count()).where(*mine, Incident.response_breached_at.is_not(None))
                ),
                "resolution_breached": db.session.scalar(
                    select(func.count()).where(*mine, Incident.resolution_breached_at.is_not(None))
                ),
            }
        events = (DomainEvent.id > before["event"], DomainEvent.type == "ServiceSLABreached")
        found["routed_to_assets"] = db.session.scalar(
            select(func.count()).where(
                new, Incident.source == "alertmanager", Incident.asset_id.is_not(None)
            )
        )
        found["breach_events"] = db.session.scalar(select(func.count()).where(*events))
        found["breach_events_unpublished"] = db.session.scalar(
            select(func.count()).where(*events, DomainEvent.enqueued_at.is_(None))
        )
    return found


PHASES = {
    "baseline": "GET /incidents/ID",
    "incidents": "POST /incidents",
    "alertmanager": "POST /alertmanager",
    "routed": "POST /alertmanager, routed by host",
}


def _figures(r: dict) -> list[tuple]:
    rows = []
    for name, label in PHASES.items():
        p = r[name]
        per, unit = ("incidents", "an incident") if "incidents" in p else ("requests", "a request")
        rows += [
            (f"{name}.{per}_per_s", f"{label}: {per}/s", "", p[f"{per}_per_s"]),
            (
                f"{name}.cpu_ms",
                f"  gunicorn CPU {unit}",
                "ms",
                1000 * p["server_s"] / p[per] if p[per] else 0.0,
            ),
            (f"{name}.p95_ms", "  p95", "ms", p["p95_ms"]),
        ]
    worker = max(r["peak_rss_mb"]["workers"])
    return [*rows, ("peak_rss_mb", "gunicorn worker peak RSS", "MB", worker)]


def report(r: dict) -> str:
    base = r["baseline"]["requests_per_s"]
    d = r["database"]
    lines = [
        f"ingest ({r['services']:,} services, gunicorn 2 workers, {r['users']} locust users "
        "on loopback; baseline: authenticated GET of an incident)",
        f"  {'':<28}{'requests':>9}{'errors':>7}{'req/s':>8}{'incidents/s':>13}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'ratio':>7}",
    ]
    for name, label in (
        ("baseline", "GET /incidents/ID"),
        ("incidents", "POST /incidents"),
        ("alertmanager", f"POST /alertmanager ({r['alerts_per_notification']}/post)"),
        ("routed", "  the same, routed by host"),
    ):
        p = r[name]
        rate = p.get("incidents_per_s")
        lines.append(
            f"  {label:<28}{p['requests']:>9}{p['errors']:>7}{p['requests_per_s']:>8.0f}"
            f"{'' if rate is None else f'{rate:.0f}':>13}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}"
            f"{'' if rate is None else f'{rate / base:.2f}':>7}"
        )
    lines.append("  (ratio: incidents/s over the baseline's requests/s)")
    by_id, routed = r["alertmanager"], r["routed"]
    cpu = [
        1000 * p["server_s"] / p["incidents"] if p["incidents"] else 0.0 for p in (by_id, routed)
    ]
    lines.append(
        f"  routing by host ({r['assets']:,} assets, `instance` labels only): "
        f"{routed['incidents_per_s']:.0f} incidents/s against {by_id['incidents_per_s']:.0f} "
        f"by service id, {_ratio(routed['incidents_per_s'], by_id['incidents_per_s'])}; "
        f"CPU {cpu[1]:.2f} against {cpu[0]:.2f} ms an incident, {_ratio(cpu[0], cpu[1])}"
    )
    for name in ("baseline", "incidents", "alertmanager", "routed"):
        p = r[name]
        per, unit = (
            (p["incidents"], "an incident") if "incidents" in p else (p["requests"], "a request")
        )
        lines.append(
            f"  CPU, {name}: gunicorn workers {1000 * p['server_s'] / per:.1f} ms {unit} "
            f"({p['server_s'] / p['seconds']:.2f} cores busy); "
            f"locust {p['load_generator_s']:.1f} s in all (its start included)"
        )
    for source, posted in (("api", "incidents"), ("alertmanager", "alerts")):
        s = d[source]
        if source == "alertmanager":
            posted = r["posted"]["alerts"] + r["posted"]["routed_alerts"]
        else:
            posted = r["posted"][posted]
        lines.append(
            f"  in the database, {source}: {s['incidents']} incidents for {posted} "
            f"posted ({s['distinct_keys']} keys), breached: {s['response_breached']} response, "
            f"{s['resolution_breached']} resolution"
        )
    marks = sum(
        d[s]["response_breached"] + d[s]["resolution_breached"] for s in ("api", "alertmanager")
    )
    lines.append(f"  routed to an asset: {d['routed_to_assets']} alertmanager incidents")
    lines.append(
        f"  breach events: {d['breach_events']} for {marks} breach marks, "
        f"{d['breach_events_unpublished']} not published"
    )
    rss = r["peak_rss_mb"]
    lines.append(
        "  peak RSS: gunicorn workers "
        + ", ".join(f"{w:.0f} MB" for w in rss["workers"])
        + f"; master {rss['master']:.0f} MB"
    )
    if "growth" in r:
        title = f"ingest, {r['posted']['incidents']:,} requests a phase at either size"
        lines.append(growth.table(title, r["growth"]))
    return "\n".join(lines)


def _ratio(fast: float, slow: float) -> str:
    """How the routed figure compares: 1.00 is as fast as by service id, above is faster."""
    return f"ratio {fast / slow:.2f}" if slow else "ratio n/a"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--full", action="store_true", help="100,000 services")
    parser.add_argument("--requests", type=int, help="requests per phase")
    parser.add_argument("--services", type=int, help="services in the scale database")
    args = parser.parse_args()
    result = measure(args.full, args.requests, args.services)
    print(report(result))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2))
