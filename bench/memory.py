"""Peak resident memory of the web and worker processes at scale, beside each one idle.

web     gunicorn (two workers, as `make run` serves) on a copy of a `flask seed-scale`
        database; baseline: each worker's peak after start-up and GET /healthz; then every
        dashboard page and fragment of bench.pages, three times, signed in as the admin.
worker  `flask worker`, the real command, on the same data with a mail catcher receiving
        its mail; baseline: its peak after start-up with nothing queued; then every periodic
        job at once (the SLA sweep, the nightly health recalculation over every running
        service, the renewal sweep, expiries, the relay) and the events they publish, until
        the queues are empty.
The figure is the kernel's high-water mark (VmHWM) of each process.
"""

import mailbox
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

from redis import Redis
from rq import Queue, Worker
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from bench import growth, harness, pages
from tools.embedded_redis import free_port
from webapp import create_app
from webapp.extensions import db
from webapp.health.models import HealthSnapshot
from webapp.lifecycle.registry import DEFAULT, QUEUES
from webapp.pipeline.schedule import periodic_jobs

TARGET_MB = 200
DRAIN_SECONDS = 60


def measure(
    full: bool = False, services: int | None = None, growth_from: int | None = growth.GROWTH_FROM
) -> dict:
    """The full run measures both processes again at growth_from services (bench.growth)."""
    services = services or (100_000 if full else 2_000)
    result = _measure(services)
    if growth.wanted(full, services, growth_from):
        result["smaller"] = _measure(growth_from)
        result["growth"] = growth.figures(
            growth_from, services, _figures(result["smaller"]), _figures(result)
        )
    return result


def _measure(services: int) -> dict:
    work = harness.workdir("memory")
    database = harness.scale_database(services, work)
    with harness.redis_server() as redis:
        web = _web(database, redis.url)
        worker = _worker(database, redis.url, work)
    return {"services": services, "web": web, "worker": worker}


def _web(database, redis_url: str) -> dict:
    with harness.Gunicorn(database.url, redis_url, workers=2) as server:
        pids = server.worker_pids()
        browser = pages.Browser(server.url)
        for _ in range(2 * len(pids)):  # reach both workers
            browser.get("/healthz", None)
        idle = {pid: harness.peak_rss_mb(pid) for pid in pids}
        app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "REDIS_URL": redis_url})
        ids = pages._ids(app, database.summary.company_id)
        browser.sign_in(**database.sign_in)
        for _ in range(3):
            for url, target in pages.PAGES:
                browser.get(url.format(**ids), target)
        busy = {pid: harness.peak_rss_mb(pid) for pid in pids}
    return {"idle_mb": max(idle.values()), "peak_mb": max(busy.values())}


def _worker(database, redis_url: str, work: str) -> dict:
    """Two runs of `flask worker`: the periodic jobs alone (on their queue), then the events
    they published, drained for up to DRAIN_SECONDS (at 100,000 services the first night
    publishes tens of thousands; their mail would take the worker a quarter of an hour)."""
    mail_port = free_port()
    maildir = os.path.join(work, "mail")
    mail = subprocess.Popen(
        [sys.executable, "-m", "tools.mail_catcher", "--port", str(mail_port), "--dir", maildir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=harness.ROOT,
    )
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
        "FLASK_APP": "wsgi",
    }
    redis = Redis.from_url(redis_url)
    try:
        # The app's context for its configuration and the final count; no connection is held
        # while the workers run (the session opens one at its first query).
        with harness.app_on(database.url, redis_url) as app:
            with _flask_worker(env, redis, [DEFAULT]) as worker:
                idle = harness.peak_rss_mb(worker.pid)
                started = time.perf_counter()
                for job in periodic_jobs(app.config):
                    Queue(DEFAULT, connection=redis).enqueue(job.func, job_timeout=1800)
                _wait(lambda: _idle(redis, [DEFAULT]), 1800, "the periodic jobs did not finish")
                periodic_s = time.perf_counter() - started
                periodic_peak = harness.peak_rss_mb(worker.pid)
            waiting = _queued(redis)
            with _flask_worker(env, redis, QUEUES) as worker:
                deadline = time.monotonic() + DRAIN_SECONDS
                while time.monotonic() < deadline and not _idle(redis, QUEUES):
                    time.sleep(0.5)
                events_peak = harness.peak_rss_mb(worker.pid)
            failed = sum(Queue(name, connection=redis).failed_job_registry.count for name in QUEUES)
            snapshots = db.session.scalar(select(func.count()).select_from(HealthSnapshot))
    finally:
        mail.send_signal(signal.SIGTERM)
        mail.wait(timeout=30)
    mails = len(mailbox.Maildir(maildir, create=False)) if os.path.isdir(maildir) else 0
    return {
        "idle_mb": idle,
        "periodic_peak_mb": periodic_peak,
        "events_peak_mb": events_peak,
        "peak_mb": max(periodic_peak, events_peak),
        "periodic_seconds": periodic_s,
        "events_published": waiting,
        "events_left": _queued(redis),
        "failed_jobs": failed,
        "health_snapshots": snapshots,
        "mails": mails,
    }


@contextmanager
def _flask_worker(env, redis, queues):
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker", "--queues", ",".join(queues)],
        env=env,
        cwd=harness.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: len(Worker.all(connection=redis)) == 1, 60, "the worker did not start")
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
        _wait(lambda: not Worker.all(connection=redis), 60, "the worker did not stop")


def _queued(redis) -> int:
    return sum(Queue(name, connection=redis).count for name in QUEUES)


def _idle(redis, queues) -> bool:
    """Nothing queued or running, twice a second apart: a job just taken off its queue is
    briefly in neither place, and jobs publish more jobs."""
    return _nothing_queued(redis, queues) and (time.sleep(1) or _nothing_queued(redis, queues))


def _nothing_queued(redis, queues) -> bool:
    return all(
        Queue(name, connection=redis).count == 0
        and StartedJobRegistry(name, connection=redis).count == 0
        for name in queues
    )


def _wait(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    time.sleep(0.5)  # let a just-enqueued job be taken before asking whether all is done
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.25)


def _figures(r: dict) -> list[tuple]:
    web, worker = r["web"], r["worker"]
    return [
        ("web.idle_mb", "gunicorn worker idle", "MB", web["idle_mb"]),
        ("web.peak_mb", "gunicorn worker, every page and fragment x3", "MB", web["peak_mb"]),
        ("worker.idle_mb", "flask worker idle", "MB", worker["idle_mb"]),
        (
            "worker.periodic_peak_mb",
            "flask worker, the periodic jobs",
            "MB",
            worker["periodic_peak_mb"],
        ),
        ("worker.periodic_seconds", "  their time", "s", worker["periodic_seconds"]),
        (
            "worker.events_peak_mb",
            f"flask worker, their events for up to {DRAIN_SECONDS} s",
            "MB",
            worker["events_peak_mb"],
        ),
        ("worker.events_published", "  event jobs published", "", worker["events_published"]),
    ]


def report(r: dict) -> str:
    web, worker = r["web"], r["worker"]
    lines = [
        f"memory ({r['services']:,} services; peak RSS, VmHWM; baseline: the same process idle)",
        f"  {'process':<58}{'idle MB':>9}{'peak MB':>9}  target: < {TARGET_MB} MB",
    ]
    rows = [
        ("gunicorn worker, every page and fragment x3", web["idle_mb"], web["peak_mb"]),
        (
            f"flask worker, the periodic jobs ({worker['periodic_seconds']:.0f} s)",
            worker["idle_mb"],
            worker["periodic_peak_mb"],
        ),
        (
            f"flask worker, then their events for up to {DRAIN_SECONDS} s",
            worker["idle_mb"],
            worker["events_peak_mb"],
        ),
    ]
    for name, idle, peak in rows:
        met = "met" if peak < TARGET_MB else "missed"
        lines.append(f"  {name:<58}{idle:>9.0f}{peak:>9.0f}  {met}")
    lines.append(
        f"  the worker wrote {worker['health_snapshots']:,} health snapshots and sent "
        f"{worker['mails']:,} mails; {worker['events_published']:,} event jobs were published, "
        f"{worker['events_left']:,} left undrained; {worker['failed_jobs']} jobs failed"
    )
    if "growth" in r:
        lines.append(growth.table("memory", r["growth"]))
    return "\n".join(lines)
