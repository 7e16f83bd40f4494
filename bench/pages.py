"""Server time of every dashboard page and htmx fragment over real HTTP, beside its bare SQL.

gunicorn (two workers, as `make run` serves) runs on a copy of a `flask seed-scale` database,
and one keep-alive HTTP client signed in as the company's admin asks each page in turn. The
baseline for each page is the same SQL run bare: every statement the page issued, captured
once from a request in this process, then executed straight on a database connection with
its parameters and fetched in full, with no Flask, ORM or template around it.
"""

import http.client
import re
import statistics
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import flask_migrate
from sqlalchemy import event, select, text, update

from bench import floor, growth, harness
from tools import postgres_cluster
from webapp import create_app
from webapp.assets.models import Asset
from webapp.clock import today
from webapp.demo.scale import seed_scale
from webapp.demo.scale_assets import add_assets
from webapp.demo.scale_billing import make_billing_due
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.invoices import bill_run
from webapp.invoices.models import Invoice
from webapp.lifecycle.statuses import DeliveryStatus, ServiceStatus
from webapp.pipeline.models import ListenerDelivery
from webapp.pipeline.queues import redis_connection
from webapp.services.models import ClientService

# (url, the htmx target it is asked for, or None for the whole page)
PAGES = [
    ("/", None),
    ("/", "overview_panels"),
    ("/services", None),
    ("/services?sort=price&desc=1", "services_table"),
    ("/services?q=Backup", "services_table"),
    ("/services?q=Client+0012", "services_table"),
    ("/clients?q=0012", "clients_table"),
    ("/services/{service}", None),
    ("/services/{service}", "service_live"),
    ("/services/{service}", "service_activity"),
    ("/incidents", None),
    ("/incidents?state=all", "incidents_table"),
    ("/incidents?severity=critical", "incidents_table"),
    ("/incidents/{incident}", None),
    ("/incidents/{incident}", "incident_main"),
    ("/renewals", None),
    ("/renewals?page=3", "renewals_table"),
    ("/alerts?state=all", None),
    ("/alerts", "alerts_table"),
    ("/operations", None),
    ("/operations", "operations_panel"),
    ("/settings", None),
    ("/live?stamp=x", None),
    ("/live", None),
    ("/activity", None),
    ("/clients", None),
    ("/clients?sort=name&desc=1", "clients_table"),
    ("/clients/{client}", None),
    ("/invoices", None),
    ("/invoices?page=2", "invoices_table"),
    ("/invoices/{invoice}", None),
    ("/assets", None),
    ("/assets?kind=server&page=2", "assets_table"),
    ("/assets/{asset}", None),
    ("/assets/unrouted", None),
    ("/reports", None),
    ("/reports?from=2025-12&to=2026-11", "reports_body"),
    # Downloads, read to the end: every matching row, 2,000 per statement.
    ("/services.csv?status=suspended", None),
    ("/incidents.csv", None),
    ("/activity.csv?what=ServiceSuspended", None),
    ("/reports/at-risk.csv", None),
]
TRIVIAL = ("/healthz", None)
# A signed-in page in the base layout with no query of its own (bench.floor): what every page
# pays. Target: a page's time beyond its bare SQL at most twice the floor's time.
FLOOR_PAGE = (floor.FLOOR, None)


def label(url: str, target: str | None) -> str:
    return f"{url} #{target}" if target else url


class Browser:
    """One keep-alive connection with a session cookie: what a signed-in user's tab does."""

    def __init__(self, base_url: str):
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.cookie = ""

    def request(self, method, path, body=None, headers=None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie, **(headers or {})}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for value in response.headers.get_all("Set-Cookie") or []:
            if value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, text

    def sign_in(self, email: str, password: str) -> None:
        _, form = self.request("GET", "/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        body = urlencode({"email": email, "password": password, "csrf_token": token.group(1)})
        status, _ = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302:
            raise RuntimeError(f"sign-in failed: {status}")

    def get(self, url: str, target: str | None) -> int:
        headers = {"HX-Request": "true", "HX-Target": target} if target else {}
        return self.request("GET", url, headers=headers)[0]


def _timed(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": harness.percentile(times, 0.95)}


def _with_invoices_and_assets(app, company_id: int) -> None:
    """What seed_scale leaves out, on this copy: a day's bill run over every service (its
    invoices and credit notes, as the bill-run benchmark makes them) and an asset behind each
    active service, so /invoices and /assets list as many as a company of this size has."""
    with app.app_context():
        day = today()
        make_billing_due(company_id, day)
        bill_run.run_bill_run(company_id, day, "bench")
        services = db.session.execute(
            select(ClientService.id, ClientService.client_id).where(
                ClientService.company_id == company_id,
                ClientService.status == ServiceStatus.ACTIVE,
            )
        ).all()
        add_assets(company_id, services)
        # The bill run's events, as workers would have run them by the time anyone looks:
        # none runs here, and /healthz would report them waiting (503).
        db.session.execute(
            update(ListenerDelivery)
            .where(ListenerDelivery.status != DeliveryStatus.DONE)
            .values(status=DeliveryStatus.DONE)
        )
        db.session.commit()
        redis_connection().flushdb()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of a bulk load, as in any deployment; SQLite
            # has no such thing, and its copy stays without statistics.
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.session.remove()


def _ids(app, company_id: int) -> dict:
    """A running service with incidents, and one of its incidents: the busiest detail pages;
    its client, an invoice and an asset."""
    with app.app_context():
        row = db.session.execute(
            select(Incident.service_id, Incident.id)
            .join(ClientService, ClientService.id == Incident.service_id)
            .where(
                Incident.company_id == company_id,
                ClientService.status == ServiceStatus.ACTIVE,
            )
            .order_by(Incident.id)
            .limit(1)
        ).one()
        client = db.session.get(ClientService, row.service_id).client_id
        invoice = db.session.scalar(
            select(Invoice.id).where(Invoice.company_id == company_id).limit(1)
        )
        asset = db.session.scalar(select(Asset.id).where(Asset.company_id == company_id).limit(1))
        return {
            "service": row.service_id,
            "incident": row.id,
            "client": client,
            "invoice": invoice,
            "asset": asset,
        }


def capture_sql(app, sign_in: dict, pages: list) -> dict[str, list]:
    """Every SELECT each page issues, with its parameters, from one request in this process."""
    client = app.test_client()
    client.post("/login", data=sign_in)
    captured: list = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        found = {}
        for url, target in pages:
            captured.clear()
            headers = {"HX-Request": "true", "HX-Target": target} if target else {}
            response = client.get(url, headers=headers)
            response.get_data()  # a streamed export reads its rows only now
            assert response.status_code in (200, 204), (url, response.status_code)
            found[label(url, target)] = list(captured)
        return found
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def time_bare(app, statements: list, repeat: int) -> dict:
    with app.app_context():
        raw = db.engine.raw_connection()
    try:

        def run():
            cursor = raw.cursor()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            cursor.close()
            raw.rollback()

        return _timed(run, repeat)
    finally:
        raw.close()


def measure(full: bool = False, scale: int | None = None, repeat: int | None = None) -> dict:
    """On SQLite (a copy of the cached seed), and on a throwaway PostgreSQL cluster seeded
    the same way when PostgreSQL is installed."""
    services = scale or (100_000 if full else 2_000)
    repeat = repeat or (40 if full else 20)
    kinds = ["sqlite"] + (["postgresql"] if postgres_cluster.bindir() is not None else [])
    databases = {}
    for kind in kinds:
        databases[kind] = _measure_at(kind, services, repeat)
        # Every page again at growth.GROWTH_FROM: how each p95 grew to the full size.
        if full and scale is None:
            databases[kind]["smaller"] = _measure_at(kind, growth.GROWTH_FROM, repeat)
    return {"services": services, "repeat": repeat, "databases": databases}


@contextmanager
def _seeded(kind: str, services: int, redis_url: str):
    """(database URL, seed summary) of a company of `services` services."""
    if kind == "sqlite":
        database = harness.scale_database(services, harness.workdir("pages"))
        try:
            yield database.url, database.summary
        finally:
            database.path.unlink(missing_ok=True)
        return
    cluster = postgres_cluster.PostgresCluster().start()
    try:
        with harness.app_on(cluster.url, redis_url):
            flask_migrate.upgrade()
            summary = seed_scale(services=services)
        yield cluster.url, summary
    finally:
        cluster.stop()


def _measure_at(kind: str, services: int, repeat: int) -> dict:
    with (
        harness.redis_server() as redis,
        _seeded(kind, services, redis.url) as (database_url, summary),
    ):
        sign_in = {"email": summary.admin_email, "password": summary.admin_password}
        app = floor.with_floor(
            create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": database_url,
                    "REDIS_URL": redis.url,
                    "WTF_CSRF_ENABLED": False,
                    "LOGIN_RATE_LIMIT": "1000 per minute",
                }
            )
        )
        _with_invoices_and_assets(app, summary.company_id)
        ids = _ids(app, summary.company_id)
        pages = [(url.format(**ids), target) for url, target in [TRIVIAL, FLOOR_PAGE, *PAGES]]
        statements = capture_sql(app, sign_in, pages)
        results = {}
        with harness.Gunicorn(
            database_url, redis.url, workers=2, app="bench.floor:served()"
        ) as server:
            browser = Browser(server.url)
            browser.sign_in(**sign_in)
            for url, target in pages:
                name = label(url, target)

                def fetch(url=url, target=target, name=name):
                    status = browser.get(url, target)
                    assert status in (200, 204), (name, status)

                for _ in range(4):  # warm both workers: a worker's first request compiles
                    fetch()  # the page's templates (the sync worker closes each connection)
                http_times = _timed(fetch, repeat)
                bare = time_bare(app, statements[name], repeat)
                results[name] = {
                    "statements": len(statements[name]),
                    **http_times,
                    "bare_p50_ms": bare["p50_ms"],
                    "bare_p95_ms": bare["p95_ms"],
                }
            rss = {pid: harness.peak_rss_mb(pid) for pid in server.worker_pids()}
        with app.app_context():
            db.engine.dispose()
    return {
        "services": services,
        "summary": str(summary),
        "repeat": repeat,
        "pages": results,
        "web_worker_peak_rss_mb": max(rss.values()),
    }


def _report_on(kind: str, r: dict) -> str:
    floor_ms = r["pages"][label(*FLOOR_PAGE)]["p95_ms"]
    smaller = r.get("smaller")
    growth_head = growth.columns(smaller["services"]) if smaller else ""
    lines = [
        f"pages on {kind} ({r['services']:,} services; gunicorn 2 workers over HTTP on loopback, "
        f"{r['repeat']} requests each; baselines: the same SQL run bare, and the floor "
        f"({FLOOR_PAGE[0]}: signed in, the base layout, no query of its own): p95 {floor_ms:.1f} ms)",
        f"  {'page #htmx target':<46}{'SQL':>4}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'bare p95':>10}{'ratio':>7}{'overhead':>10}{'/floor':>8}{growth_head}"
        "  target: p95 < 100 ms, overhead <= 2x the floor",
    ]
    if smaller:
        lines.insert(1, growth.legend("the page's p95", smaller["services"], r["services"]))
    worst, met = 0.0, 0
    # By position: the detail pages' ids differ between the two databases.
    before_p95 = [p["p95_ms"] for p in smaller["pages"].values()] if smaller else []
    for position, (name, p) in enumerate(r["pages"].items()):
        ratio = p["p95_ms"] / p["bare_p95_ms"] if p["bare_p95_ms"] else float("nan")
        overhead = p["p95_ms"] - p["bare_p95_ms"]
        ok = p["p95_ms"] < 100 and overhead <= 2 * floor_ms
        met += ok
        worst = max(worst, p["p95_ms"])
        grew = ""
        if position < len(before_p95):
            grew = growth.cells(before_p95[position], p["p95_ms"])
        lines.append(
            f"  {name:<46}{p['statements']:>4}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}"
            f"{p['bare_p95_ms']:>10.1f}{ratio:>7.1f}{overhead:>10.1f}{overhead / floor_ms:>8.1f}"
            f"{grew}  {'met' if ok else 'missed'}"
        )
    rss = f"web worker peak RSS {r['web_worker_peak_rss_mb']:.0f} MB"
    if smaller:
        rss += f" ({smaller['web_worker_peak_rss_mb']:.0f} MB at {smaller['services']:,})"
    lines.append(
        f"  {met} of {len(r['pages'])} met; slowest p95 {worst:.1f} ms; {rss} (target < 200 MB)"
    )
    return "\n".join(lines)


def report(r: dict) -> str:
    return "\n".join(_report_on(kind, result) for kind, result in r["databases"].items())
