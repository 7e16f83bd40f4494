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
from urllib.parse import urlencode

from sqlalchemy import event, select

from bench import harness
from webapp import create_app
from webapp.extensions import db
from webapp.incidents.models import Incident
from webapp.lifecycle.statuses import ServiceStatus
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
    ("/reports", None),
    ("/reports?from=2025-12&to=2026-11", "reports_body"),
    # Downloads, read to the end: every matching row, 2,000 per statement.
    ("/services.csv?status=suspended", None),
    ("/incidents.csv", None),
    ("/activity.csv?what=ServiceSuspended", None),
    ("/reports/at-risk.csv", None),
]
TRIVIAL = ("/healthz", None)


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


def _ids(app, company_id: int) -> dict:
    """A running service with incidents, and one of its incidents: the busiest detail pages."""
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
        return {"service": row.service_id, "incident": row.id}


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
    services = scale or (100_000 if full else 2_000)
    repeat = repeat or (40 if full else 20)
    work = harness.workdir("pages")
    database = harness.scale_database(services, work)
    with harness.redis_server() as redis:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database.url,
                "REDIS_URL": redis.url,
                "WTF_CSRF_ENABLED": False,
                "LOGIN_RATE_LIMIT": "1000 per minute",
            }
        )
        ids = _ids(app, database.summary.company_id)
        pages = [(url.format(**ids), target) for url, target in [TRIVIAL, *PAGES]]
        statements = capture_sql(app, database.sign_in, pages)
        results = {}
        with harness.Gunicorn(database.url, redis.url, workers=2) as server:
            browser = Browser(server.url)
            browser.sign_in(**database.sign_in)
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
        "summary": str(database.summary),
        "repeat": repeat,
        "pages": results,
        "web_worker_peak_rss_mb": max(rss.values()),
    }


def report(r: dict) -> str:
    lines = [
        f"pages ({r['services']:,} services; gunicorn 2 workers over HTTP on loopback, "
        f"{r['repeat']} requests each; baseline: the same SQL run bare)",
        f"  {'page #htmx target':<46}{'SQL':>4}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'bare p95':>10}{'ratio':>7}{'overhead':>10}  target: p95 < 100 ms, ratio <= 2",
    ]
    worst = 0.0
    for name, p in r["pages"].items():
        ratio = p["p95_ms"] / p["bare_p95_ms"] if p["bare_p95_ms"] else float("nan")
        ok = p["p95_ms"] < 100 and ratio <= 2
        worst = max(worst, p["p95_ms"])
        lines.append(
            f"  {name:<46}{p['statements']:>4}{p['p50_ms']:>8.1f}{p['p95_ms']:>8.1f}"
            f"{p['bare_p95_ms']:>10.1f}{ratio:>7.1f}{p['p95_ms'] - p['bare_p95_ms']:>10.1f}"
            f"  {'met' if ok else 'missed'}"
        )
    lines.append(
        f"  slowest p95 {worst:.1f} ms; web worker peak RSS {r['web_worker_peak_rss_mb']:.0f} MB"
        " (target < 200 MB)"
    )
    return "\n".join(lines)
