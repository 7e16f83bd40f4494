"""What every benchmark needs: a Redis, a database at scale, gunicorn over real HTTP, RSS.

A scale database takes minutes to seed, so the seeded file is kept in bench/.cache (keyed by
the seed's arguments and the code that shapes it) and each benchmark works on its own copy:
one that writes (ingest, sweeps) never changes what the next one reads.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import flask_migrate

from tools.embedded_redis import RedisServer, free_port
from webapp import create_app
from webapp.demo.scale import ScaleSummary, seed_scale
from webapp.demo.seed import CATALOGUE
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BENCH_CACHE", ROOT / "bench" / ".cache"))


@dataclass
class ScaleDatabase:
    url: str
    path: Path
    summary: ScaleSummary

    @property
    def sign_in(self) -> dict:
        return {"email": self.summary.admin_email, "password": self.summary.admin_password}


@contextmanager
def redis_server():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def _code_key() -> str:
    """Changes whenever the seed's shape does (its code, and the demo catalogue its services
    are drawn from); a newer schema is migrated onto the cache."""
    shape = (ROOT / "webapp" / "demo" / "scale.py").read_bytes() + repr(CATALOGUE).encode()
    return hashlib.sha256(shape).hexdigest()[:12]


def scale_database(services: int, workdir: str, **seed_args) -> ScaleDatabase:
    """A private copy of a SQLite database holding seed_scale(services, **seed_args)."""
    args = {"services": services, **seed_args}
    name = "-".join(f"{k}{v}" for k, v in sorted(args.items()) if v is not None)
    cached = CACHE / f"scale-{name}-{_code_key()}.db"
    meta = cached.with_suffix(".json")
    CACHE.mkdir(parents=True, exist_ok=True)
    # One builder at a time: two benchmarks started together must not seed one file twice.
    with open(CACHE / f"scale-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cached.exists() and meta.exists()):
            for stale in CACHE.glob(f"scale-{name}-*"):
                stale.unlink()
            building = cached.with_suffix(".building")
            summary = _seed(f"sqlite:///{building}", **args)
            print(f"  {summary}", flush=True)
            _checkpoint(building)
            building.rename(cached)
            meta.write_text(json.dumps(asdict(summary)))
        else:
            _migrate(cached)
    summary = ScaleSummary(**json.loads(meta.read_text()))
    copy = Path(workdir) / cached.name
    shutil.copyfile(cached, copy)
    return ScaleDatabase(f"sqlite:///{copy}", copy, summary)


@contextmanager
def app_on(database_url: str, redis_url: str):
    """The app on this database and Redis, its context pushed, and its connections closed
    after: what comes next copies the database file or hands it to other processes."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _seed(url: str, **args) -> ScaleSummary:
    with redis_server() as redis, app_on(url, redis.url):
        flask_migrate.upgrade()
        return seed_scale(**args)


def _migrate(path: Path) -> None:
    """Bring a cached database to the current schema (new indexes cost seconds; a new seed
    minutes). Without planner statistics (no ANALYZE), as the app's own databases run."""
    with redis_server() as redis, app_on(f"sqlite:///{path}", redis.url):
        before = _revision()
        flask_migrate.upgrade()
        if _revision() != before:
            print(f"  migrated the cached {path.name}", flush=True)
        db.session.execute(db.text("DROP TABLE IF EXISTS sqlite_stat1"))
        db.session.execute(db.text("DROP TABLE IF EXISTS sqlite_stat4"))
        db.session.commit()
    _checkpoint(path)


def _revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the main file, so one file copy is the whole database."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")


def workdir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=f"bench-{prefix}-")


class Gunicorn:
    """gunicorn serving wsgi:app on a free loopback port, as `make run` does."""

    def __init__(
        self, database_url: str, redis_url: str, workers: int = 2, app: str = "wsgi:app", **env
    ):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **env,
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        return self

    def worker_pids(self) -> list[int]:
        import psutil

        return [p.pid for p in psutil.Process(self.process.pid).children()]

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
