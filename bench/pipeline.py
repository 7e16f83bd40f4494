"""Delivery throughput with one worker, beside a no-op RQ job on the same Redis and worker.

Three runs over the same number of transitions (each activation has two listeners):
  noop          N*2 no-op jobs: what RQ itself costs per job
  per-event     one job per event running its listeners in turn: the design in use
  per-delivery  one job per (event, listener): the alternative
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from decimal import Decimal

import flask_migrate
from sqlalchemy import select

from tools.embedded_redis import RedisServer
from webapp import create_app
from webapp import service_lifecycle as lc
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle, DeliveryStatus
from webapp.models import Client, Company, DomainEvent, ListenerDelivery
from webapp.queues import queue, redis_connection


def run_worker(env) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.worker"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def prepare(n: int) -> list[int]:
    begin_write(db.session)
    company = Company(name="Bench MSP")
    db.session.add(company)
    db.session.flush()
    client = Client(company_id=company.id, name="Bench client", contact_email="c@bench.example")
    db.session.add(client)
    db.session.commit()
    ids = []
    for i in range(n):
        new = lc.NewService(
            client.id, f"svc {i}", "backup", Decimal("10"), "USD", BillingCycle.MONTHLY, 12
        )
        ids.append(lc.provision(company.id, new, "bench").id)
    return [company.id, *ids]


def measure(n: int, database_url: str | None, rounds: int = 3) -> dict:
    """Interleave the three runs `rounds` times and keep the median of each (the machine is
    shared and noisy; interleaving exposes baseline and candidates to the same noise)."""
    redis = RedisServer().start()
    tmp = tempfile.mkdtemp(prefix="bench-")
    url = database_url or f"sqlite:///{tmp}/bench.db"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis.url}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis.url})
    runs = {"noop_jobs_per_s": [], "per_event_per_s": [], "per_delivery_per_s": []}
    try:
        with app.app_context():
            flask_migrate.upgrade()
            for _ in range(rounds):
                company, *services = prepare(2 * n)
                redis_connection().flushdb()
                runs["noop_jobs_per_s"].append(2 * n / _noop_run(n, env))
                runs["per_event_per_s"].append(2 * n / _per_event_run(company, services[:n], env))
                runs["per_delivery_per_s"].append(
                    2 * n / _per_delivery_run(company, services[n:], env)
                )
            db.session.rollback()  # a fresh snapshot: the workers wrote meanwhile
            undone = db.session.scalar(
                select(db.func.count()).where(ListenerDelivery.status != DeliveryStatus.DONE)
            )
    finally:
        redis.stop()
    results = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "transitions": n,
        "rounds": rounds,
        "database": url.split(":")[0],
        "undone_after_runs": undone,
        "all_runs": runs,
        **results,
    }


def _noop_run(n, env) -> float:
    for _ in range(2 * n):
        queue("billing").enqueue("bench.jobs.noop")
    return run_worker(env)


def _per_event_run(company, services, env) -> float:
    for sid in services:
        lc.activate(company, sid, "bench")
    return run_worker(env)


def _per_delivery_run(company, services, env) -> float:
    """The same work as one job per delivery: drop the event jobs, enqueue per listener."""
    for sid in services:
        lc.activate(company, sid, "bench")
    redis_connection().flushdb()
    pairs = db.session.execute(
        select(ListenerDelivery.event_id, ListenerDelivery.listener, ListenerDelivery.queue)
        .join(DomainEvent)
        .where(DomainEvent.service_id.in_(services))
    ).all()
    for event_id, listener, queue_name in pairs:
        queue(queue_name).enqueue("bench.jobs.deliver_one", event_id, listener)
    return run_worker(env)


def report(r: dict) -> str:
    base = r["noop_jobs_per_s"]
    lines = [
        f"pipeline ({r['transitions']} activations x 2 listeners, one worker, {r['database']}, "
        f"median of {r['rounds']} interleaved rounds)",
        f"  {'no-op RQ job (baseline)':<34}{base:>10.0f} jobs/s",
        f"  {'one job per event (in use)':<34}{r['per_event_per_s']:>10.0f} deliveries/s"
        f"   ratio {r['per_event_per_s'] / base:.2f}",
        f"  {'one job per delivery (alternative)':<34}{r['per_delivery_per_s']:>10.0f} deliveries/s"
        f"   ratio {r['per_delivery_per_s'] / base:.2f}",
        f"  deliveries not done afterwards: {r['undone_after_runs']}",
    ]
    return "\n".join(lines)
