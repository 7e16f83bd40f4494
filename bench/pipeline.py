"""Listener effects per second with one and with two workers, beside a no-op RQ job.

Each activation is one event with two listeners (start billing, notify), so one transition
is two effects. For each worker count, interleaved rounds (the machine is shared and noisy;
interleaving exposes baseline and candidate to the same noise):
  no-op       2*N no-op jobs on the same Redis, drained by the same number of burst workers:
              what RQ itself costs per job, the ceiling;
  pipeline    N activations committed first, then drained: effects per second.
Then a paced run, below saturation (half the measured rate), with the workers already
waiting: the latency of each effect from its event's commit to the effect's commit.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from decimal import Decimal

import flask_migrate
from flask import current_app
from rq import Worker
from sqlalchemy import select

from bench import harness
from tools import postgres_cluster
from webapp.clients.models import Client, Contact
from webapp.company.models import Company
from webapp.database import begin_write
from webapp.extensions import db
from webapp.lifecycle.statuses import BillingCycle, DeliveryStatus
from webapp.pipeline import outbox, publishing
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import queue, redis_connection
from webapp.services import actions as lc

EFFECTS_PER_TRANSITION = 2
CHUNK_SIZE = 50  # the default DELIVERY_CHUNK_SIZE
PACED_SECONDS = 8


def _burst(env, workers: int) -> float:
    """Wall time of `workers` burst workers draining the queues, from the first start to
    the last end (each process's own start-up, building the app, is left out)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.worker", "--burst"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    spans = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return max(s["ended"] for s in spans) - min(s["started"] for s in spans)


def _prepare(n: int) -> tuple[int, list[int]]:
    begin_write(db.session)
    company = Company(name="Bench MSP")
    db.session.add(company)
    db.session.flush()
    client = Client(company_id=company.id, name="Bench client")
    db.session.add(client)
    db.session.flush()
    db.session.add(
        Contact(
            company_id=company.id,
            client_id=client.id,
            name="Bench contact",
            email="c@bench.example",
            is_primary=True,
        )
    )
    db.session.commit()
    ids = []
    for i in range(n):
        new = lc.NewService(
            client.id, f"svc {i}", "backup", Decimal("10"), "USD", BillingCycle.MONTHLY, 12
        )
        ids.append(lc.provision(company.id, new, "bench").id)
    redis_connection().flushdb()  # the provisioning events' jobs are not what is measured
    return company.id, ids


def _noop_rate(n: int, env, workers: int) -> float:
    for _ in range(EFFECTS_PER_TRANSITION * n):
        queue("billing").enqueue("bench.jobs.noop")
    return EFFECTS_PER_TRANSITION * n / _burst(env, workers)


def _pipeline_rate(n: int, env, workers: int) -> float:
    company, services = _prepare(n)
    for sid in services:
        lc.activate(company, sid, "bench")
    return EFFECTS_PER_TRANSITION * n / _burst(env, workers)


def _backlog_rate(n: int, env, workers: int, chunk_size: int) -> float:
    """N activations recorded first and published together, as a sweep's events are, in jobs
    of `chunk_size` events, then drained: effects per second."""
    company, services = _prepare(n)
    publish = outbox.publish
    outbox.publish = lambda event_ids: True  # held back: sent together below
    try:
        for sid in services:
            lc.activate(company, sid, "bench")
    finally:
        outbox.publish = publish
    events = db.session.scalars(
        select(DomainEvent.id).where(
            DomainEvent.service_id.in_(services), DomainEvent.type == "ServiceActivated"
        )
    ).all()
    db.session.rollback()
    current_app.config["DELIVERY_CHUNK_SIZE"] = chunk_size
    try:
        publishing.publish(list(events))
    finally:
        current_app.config["DELIVERY_CHUNK_SIZE"] = CHUNK_SIZE
    return EFFECTS_PER_TRANSITION * n / _burst(env, workers)


def _paced_latency(n: int, env, workers: int, rate: float) -> dict:
    """Activations at `rate` per second while `workers` wait; latency from each event's
    commit to each of its effects' commit."""
    company, services = _prepare(n)
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench.worker"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=redis_connection())) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        started = time.monotonic()
        for i, sid in enumerate(services):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            lc.activate(company, sid, "bench")
        _wait_done(services)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    db.session.rollback()
    latencies = sorted(
        (finished - created).total_seconds() * 1000
        for finished, created in db.session.execute(
            select(ListenerDelivery.finished_at, DomainEvent.occurred_at)
            .join(DomainEvent)
            .where(DomainEvent.service_id.in_(services), DomainEvent.type == "ServiceActivated")
        )
    )
    return {
        "paced_per_s": rate * EFFECTS_PER_TRANSITION,
        "effects": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p95_ms": harness.percentile(latencies, 0.95),
    }


def _wait_done(services, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        undone = db.session.scalar(
            select(db.func.count())
            .select_from(ListenerDelivery)
            .join(DomainEvent)
            .where(
                DomainEvent.service_id.in_(services),
                DomainEvent.type == "ServiceActivated",
                ListenerDelivery.status != DeliveryStatus.DONE,
            )
        )
        if not undone:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{undone} effects not done after {timeout} s")
        time.sleep(0.05)


def measure(full: bool = False, rounds: int = 3) -> dict:
    """On SQLite, and on a throwaway PostgreSQL cluster when PostgreSQL is installed: SQLite
    takes one writer at a time, so a second worker shows what it adds only on PostgreSQL."""
    n = 1000 if full else 200
    databases = {"sqlite": None}
    if postgres_cluster.bindir() is not None:
        databases["postgresql"] = postgres_cluster.PostgresCluster
    results = {}
    for name, cluster_class in databases.items():
        if cluster_class is None:
            url = f"sqlite:///{harness.workdir('pipeline')}/pipeline.db"
            results[name] = _measure_on(url, n, rounds)
            continue
        cluster = cluster_class().start()
        try:
            results[name] = _measure_on(cluster.url, n, rounds)
        finally:
            cluster.stop()
    return {"transitions": n, "rounds": rounds, "databases": results}


def _measure_on(url: str, n: int, rounds: int) -> dict:
    by_workers = {}
    with harness.redis_server() as redis, harness.app_on(url, redis.url):
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis.url}
        flask_migrate.upgrade()
        for workers in (1, 2):
            runs = {
                "noop_jobs_per_s": [],
                "effects_per_s": [],
                "backlog_per_event_per_s": [],
                "backlog_chunked_per_s": [],
            }
            for _ in range(rounds):
                runs["noop_jobs_per_s"].append(_noop_rate(n, env, workers))
                runs["effects_per_s"].append(_pipeline_rate(n, env, workers))
                runs["backlog_per_event_per_s"].append(_backlog_rate(n, env, workers, 1))
                runs["backlog_chunked_per_s"].append(_backlog_rate(n, env, workers, CHUNK_SIZE))
            medians = {k: statistics.median(v) for k, v in runs.items()}
            rate = medians["effects_per_s"] / EFFECTS_PER_TRANSITION / 2
            paced = _paced_latency(max(20, int(rate * PACED_SECONDS)), env, workers, rate)
            by_workers[workers] = {**medians, "all_runs": runs, "latency": paced}
    return by_workers


def report(r: dict) -> str:
    lines = [
        f"pipeline ({r['transitions']:,} activations x {EFFECTS_PER_TRANSITION} effects, median "
        f"of {r['rounds']} interleaved rounds; baseline: no-op RQ jobs on the same Redis and "
        "workers; latency paced at half the measured rate)",
        f"  {'database':<12}{'workers':<8}{'no-op jobs/s':>14}{'effects/s':>11}{'ratio':>7}"
        f"{'paced at/s':>12}{'p50 ms':>8}{'p95 ms':>8}  target: ratio >= 0.8, p95 < 250 ms",
    ]
    for database, by_workers in r["databases"].items():
        for workers, w in by_workers.items():
            ratio = w["effects_per_s"] / w["noop_jobs_per_s"]
            lat = w["latency"]
            met = ratio >= 0.8 and lat["p95_ms"] < 250
            lines.append(
                f"  {database:<12}{workers!s:<8}{w['noop_jobs_per_s']:>14.0f}"
                f"{w['effects_per_s']:>11.0f}{ratio:>7.2f}{lat['paced_per_s']:>12.0f}"
                f"{lat['p50_ms']:>8.0f}{lat['p95_ms']:>8.0f}  {'met' if met else 'missed'}"
            )
    lines.append(
        f"  a backlog of the same {r['transitions']:,} activations published together "
        "(a sweep's events), drained; baseline: one job per event; target: ratio >= 2"
    )
    lines.append(
        f"  {'database':<12}{'workers':<8}{'one job an event, effects/s':>29}"
        f"{f'{CHUNK_SIZE} events a job':>20}{'ratio':>7}"
    )
    for database, by_workers in r["databases"].items():
        for workers, w in by_workers.items():
            ratio = w["backlog_chunked_per_s"] / w["backlog_per_event_per_s"]
            lines.append(
                f"  {database:<12}{workers!s:<8}{w['backlog_per_event_per_s']:>29.0f}"
                f"{w['backlog_chunked_per_s']:>20.0f}{ratio:>7.2f}  "
                f"{'met' if ratio >= 2 else 'missed'}"
            )
    return "\n".join(lines)
