"""The event pipeline's state as figures: database, Redis, queues, workers, scheduler."""

from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.lifecycle.statuses import DeliveryStatus
from webapp.pipeline.models import DomainEvent, ListenerDelivery
from webapp.pipeline.queues import all_queues, redis_connection

SCHEDULER_KEYS = "rq:scheduler_instance:*"


def database_state() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        failed = db.session.scalar(
            select(func.count()).where(ListenerDelivery.status == DeliveryStatus.FAILED)
        )
        unsent = db.session.scalar(select(func.count()).where(DomainEvent.enqueued_at.is_(None)))
        return {"ok": True, "failed_deliveries": failed, "unenqueued_events": unsent}
    except Exception as exc:  # reported, not raised: this is what health checks are for
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}


def redis_state() -> dict:
    try:
        conn = redis_connection()
        conn.ping()
        schedulers = [k for k in conn.scan_iter(SCHEDULER_KEYS) if not conn.hexists(k, "death")]
        return {
            "ok": True,
            "queues": {q.name: q.count for q in all_queues()},
            "workers": Worker.count(connection=conn),
            "scheduler": bool(schedulers),
        }
    except RedisError as exc:
        return {"ok": False, "error": type(exc).__name__, "workers": 0, "scheduler": False}


def pipeline_state() -> dict:
    database, redis = database_state(), redis_state()
    return {
        "status": "ok" if database["ok"] and redis["ok"] else "degraded",
        "database": database,
        "redis": redis,
    }
