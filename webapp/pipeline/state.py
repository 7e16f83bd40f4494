"""The event pipeline's state as figures: database, Redis, queues, workers, scheduler.

"ok" means the work gets done, not only that the database and Redis answer: it is not ok
while events wait with no live worker to deliver them, nor while a periodic job the
scheduler registered is missing or late (the relay, the sweeps, expiry, renewals, health).
An installation that never ran a scheduler (a web host alone, the tests) has nothing
registered to be late; workers are counted only while their heartbeat lives.
"""

import datetime as dt

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import distinct, func, select, text

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.lifecycle.statuses import UNFINISHED, DeliveryStatus
from webapp.pipeline.liveness import live_workers
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import all_queues, redis_connection
from webapp.pipeline.schedule import periodic_state

SCHEDULER_KEYS = "rq:scheduler_instance:*"


def waiting_events() -> int:
    """Events with a delivery still to run, committed longer ago than a worker takes to start."""
    margin = dt.timedelta(seconds=current_app.config["WAITING_EVENTS_GRACE_SECONDS"])
    return db.session.scalar(
        select(func.count(distinct(ListenerDelivery.event_id)))
        .join(DomainEvent, DomainEvent.id == ListenerDelivery.event_id)
        .where(
            ListenerDelivery.status.in_(UNFINISHED),
            DomainEvent.occurred_at <= utcnow() - margin,
        )
    )


def database_state() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        failed = db.session.scalar(
            select(func.count()).where(ListenerDelivery.status == DeliveryStatus.FAILED)
        )
        unsent = db.session.scalar(select(func.count()).where(DomainEvent.enqueued_at.is_(None)))
        return {
            "ok": True,
            "failed_deliveries": failed,
            "unenqueued_events": unsent,
            "waiting_events": waiting_events(),
        }
    except Exception as exc:  # reported, not raised: this is what health checks are for
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}


def scheduler_alive(conn) -> bool:
    """An rq-scheduler process whose record (refreshed every loop) has not expired."""
    return any(not conn.hexists(k, "death") for k in conn.scan_iter(SCHEDULER_KEYS))


def redis_state() -> dict:
    try:
        conn = redis_connection()
        conn.ping()
        periodic = periodic_state(conn, current_app.config)
        missing = [p.id for p in periodic if p.missing]
        late = [p.id for p in periodic if p.late and not p.missing]
        return {
            "ok": True,
            "queues": {q.name: q.count for q in all_queues()},
            "workers": len(live_workers(conn)),
            "scheduler": scheduler_alive(conn) and not missing and not late,
            "periodic": {"missing": missing, "late": late},
        }
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__, "workers": 0, "scheduler": False}


def problems(database: dict, redis: dict) -> list[str]:
    found = []
    if not database["ok"]:
        found.append("The database does not answer.")
    if not redis["ok"]:
        found.append("Redis does not answer: changes are kept and sent when it is back.")
        return found
    if database["ok"] and database["waiting_events"] and not redis["workers"]:
        found.append(f"{database['waiting_events']} events wait and no worker is alive.")
    periodic = redis["periodic"]
    if periodic["missing"]:
        found.append(f"Periodic jobs missing from the scheduler: {', '.join(periodic['missing'])}.")
    if periodic["late"]:
        found.append(f"Periodic jobs that have not run on time: {', '.join(periodic['late'])}.")
    return found


def pipeline_state() -> dict:
    database, redis = database_state(), redis_state()
    found = problems(database, redis)
    return {
        "status": "degraded" if found else "ok",
        "problems": found,
        "database": database,
        "redis": redis,
    }
