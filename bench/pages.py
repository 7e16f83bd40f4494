"""Server time of each dashboard page, beside a trivial route.

Runs the app in process (Flask's test client, no HTTP) on a fresh SQLite database seeded
with the demo data, or with `flask seed-scale`'s company at `scale` services, signed in as
an admin; the baseline is GET /healthz in the same run.
"""

import statistics
import tempfile
import time

import flask_migrate

from tools.embedded_redis import RedisServer
from webapp import create_app
from webapp.extensions import db
from webapp.scale_seed import PASSWORD, seed_scale
from webapp.seed import seed_demo_data

PAGES = [
    "/healthz",
    "/",
    "/services",
    "/services?sort=price&desc=1",
    "/services/3",
    "/incidents?state=all",
    "/incidents/1",
    "/renewals",
    "/alerts?state=all",
    "/operations",
    "/settings",
    "/live?stamp=x",
]


def measure(repeat: int = 60, scale: int | None = None) -> dict:
    redis = RedisServer().start()
    tmp = tempfile.mkdtemp(prefix="bench-pages-")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/pages.db",
            "REDIS_URL": redis.url,
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "1000 per minute",
        }
    )
    try:
        with app.app_context():
            flask_migrate.upgrade()
            if scale:
                seeded = seed_scale(scale)
                print(seeded)
                sign_in = {"email": seeded.admin_email, "password": PASSWORD}
            else:
                seed_demo_data()
                sign_in = {"email": "admin@example.com", "password": "demo-admin"}
            db.session.remove()
        client = app.test_client()
        client.post("/login", data=sign_in)
        results = {}
        for url in PAGES:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code in (200, 204), (url, response.status_code)
            times.sort()
            results[url] = {
                "p50_ms": statistics.median(times),
                "p95_ms": times[int(0.95 * len(times)) - 1],
            }
        return results
    finally:
        redis.stop()


def report(results: dict, scale: int | None = None) -> str:
    base = results["/healthz"]["p50_ms"]
    size = f"{scale:,} services" if scale else "demo data"
    lines = [
        f"pages ({size}, in-process, admin; baseline GET /healthz)",
        f"  {'page':<30}{'p50 ms':>8}{'p95 ms':>8}{'p50 / baseline':>16}",
    ]
    for url, r in results.items():
        lines.append(
            f"  {url:<30}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}{r['p50_ms'] / base:>16.1f}"
        )
    return "\n".join(lines)
